"""The app's ``target`` section: which kind of app API, its endpoint, how hard the cycle may press
on it, and what its attribute paths mean.

Targets are chosen by ``kind``. Each kind says what a mapping target may be (a SCIM path, an LDAP
attribute), how its values are judged and which attributes the app itself keeps unique; the rest
of the config and the cycle treat paths as opaque text. A new kind is a model here with the same
methods (``TargetPathRules``), added to ``TargetConfig`` and ``TARGET_MODELS``; a kind whose rules
depend on its settings (LDAP's naming attribute) answers the per-object questions as instance
methods, which is how the cycle asks them (``config.target.required_attribute(...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Protocol

from pydantic import Field, Tag, field_validator, model_validator

from provisioning.config.kinds import by_kind
from provisioning.config.ldap_target import (
    LdapDisable,
    LdapEntries,
    LdapGroups,
    LdapUsers,
    attribute_problem,
    ldap_name,
)
from provisioning.config.scim_profile import PRESETS, ScimProfile, profile_problems, resolve_profile
from provisioning.config.strict import StrictModel
from provisioning.connectors.scim.paths import (
    ENTERPRISE_USER_SCHEMA,
    REQUIRED,
    ScimPathError,
    attribute_path,
    parse_scim_path,
)
from provisioning.connectors.synapse import fields as synapse_fields
from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.vocabulary import ObjectType

if TYPE_CHECKING:
    from provisioning.config.app import AppConfig

# SCIM compares these case-insensitively (RFC 7643: userName and emails are caseExact=false).
CASE_INSENSITIVE_TARGETS = ("username", "emails")


class TargetPathRules(Protocol):
    """What the config asks a target kind about mapping targets, before any connector exists."""

    @staticmethod
    def normalize_path(text: str) -> str: ...

    @staticmethod
    def path_problem(text: str) -> str | None: ...

    @staticmethod
    def attribute_path(text: str, object_type: str) -> AttributePath: ...

    @staticmethod
    def required_attribute(object_type: str) -> tuple[str, str]: ...

    @staticmethod
    def unique_attributes(object_type: str) -> tuple[str, ...]: ...

    @staticmethod
    def case_sensitive_by_default(text: str) -> bool: ...


class TargetSection(StrictModel):
    """What every kind of target has: a connection, and how hard the cycle may press on the app."""

    kind: str
    conn_id: str = Field(min_length=1, description="Airflow connection of the app's API")
    max_concurrency: int = Field(8, ge=1, le=64, description="requests in flight at once")
    partitions: int = Field(
        1,
        ge=1,
        le=32,
        description="apply's user actions split over this many mapped tasks (workers); the rate and "
        "concurrency limits are shared among them",
    )
    page_size: int = Field(200, ge=1, le=1000, description="resources per page when listing the app")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20)
    requests_per_second: float | None = Field(
        None, gt=0, le=10_000, description="cap on requests per second to the app (null: no cap)"
    )
    shared_with: list[str] = Field(
        default_factory=list,
        description="other apps that deliberately write the same object types to this connection",
    )
    request_deadline_seconds: float = Field(
        120.0, gt=0, le=3600, description="total time for one request, the response body included"
    )
    max_response_mib: float = Field(16, gt=0, le=1024, description="larger response bodies are refused")

    def settings_problems(self, config: AppConfig) -> list[tuple[str, str]]:
        """What this target's settings rule out in the rest of the app's config, or what they lack
        for it, each located at the field to fix; none by default."""
        return []


class ScimTargetConfig(TargetSection):
    """A SCIM 2.0 endpoint (RFC 7644); mapping targets are SCIM attribute paths."""

    kind: Literal["scim"] = "scim"
    profile: ScimProfile | None = Field(
        None,
        description="the app's SCIM behaviour: a preset name (" + ", ".join(PRESETS) + "), or a "
        "mapping of settings with an optional preset they override (docs/targets/scim_profiles.md)",
    )

    @field_validator("profile", mode="before")
    @classmethod
    def _preset(cls, value: object) -> object:
        return resolve_profile(value)

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, raw: object) -> object:
        """The profile's rate and page size are the defaults of ``requests_per_second`` and
        ``page_size``; a value written in the target wins (a larger page size is reported by
        ``AppConfig.problems``)."""
        if not isinstance(raw, dict) or raw.get("profile") is None:
            return raw
        try:
            profile = ScimProfile.model_validate(resolve_profile(raw["profile"]))
        except ValueError:
            return raw  # the field's own validation reports it
        raw = dict(raw)
        if raw.get("requests_per_second") is None and profile.requests_per_second is not None:
            raw["requests_per_second"] = profile.requests_per_second
        if "page_size" not in raw and profile.max_page_size is not None:
            raw["page_size"] = min(profile.max_page_size, TargetSection.model_fields["page_size"].default)
        return raw

    def settings_problems(self, config: AppConfig) -> list[tuple[str, str]]:
        return profile_problems(config, self.profile)

    @staticmethod
    def normalize_path(text: str) -> str:
        """SCIM's manager is complex: Entra-style targets that name it address its value."""
        text = text.strip()
        try:
            path = parse_scim_path(text)
        except ScimPathError:
            return text
        if path.schema == ENTERPRISE_USER_SCHEMA and path.attribute == "manager" and not path.sub_attribute:
            return f"{path.text}.value"
        return text

    @staticmethod
    def path_problem(text: str) -> str | None:
        try:
            parse_scim_path(text)
        except ScimPathError as exc:
            return str(exc)
        return None

    @staticmethod
    def attribute_path(text: str, object_type: str) -> AttributePath:
        return attribute_path(parse_scim_path(text), object_type)

    @staticmethod
    def required_attribute(object_type: str) -> tuple[str, str]:
        """The attribute every object of this type must be mapped to, and why."""
        return REQUIRED[object_type], "SCIM requires it"

    @staticmethod
    def unique_attributes(object_type: str) -> tuple[str, ...]:
        """Mapped paths (lower case) the app keeps unique: two objects sharing a value conflict, and
        an interrupted create is looked up by them."""
        return ("username",) if object_type == ObjectType.USER else ()

    @staticmethod
    def case_sensitive_by_default(text: str) -> bool:
        return parse_scim_path(text).attribute.lower() not in CASE_INSENSITIVE_TARGETS


UNCONFIGURED_GROUPS = LdapGroups(base_dn="ou=groups")


class LdapTargetConfig(TargetSection):
    """An LDAP directory written as an app (docs/targets/ldap.md): users and groups are entries
    under configured OUs, mapping targets are LDAP attribute names, an account's app id is its
    ``id_attribute`` (entryUUID: it survives renames and moves, so links do)."""

    kind: Literal["ldap"] = "ldap"
    users: LdapUsers
    groups: LdapGroups | None = Field(
        None, description="where groups are written (needed to provision groups)"
    )
    disable: LdapDisable
    id_attribute: str = Field("entryUUID", description="the entry's stable id: entryUUID, or AD's objectGUID")

    @field_validator("id_attribute")
    @classmethod
    def _id_name(cls, value: str) -> str:
        return ldap_name(value)

    @model_validator(mode="after")
    def _apart(self) -> LdapTargetConfig:
        disable = self.disable
        if disable.attribute and disable.attribute.lower() == self.users.rdn_attribute.lower():
            raise ValueError(
                "disable.attribute is users.rdn_attribute: the name of an entry cannot say it is disabled"
            )
        return self

    def settings_problems(self, config: AppConfig) -> list[tuple[str, str]]:
        found = []
        if (problem := self._disabled_ou_problem()) is not None:
            found.append(("target.disable.base_dn", problem))
        if config.groups is not None and self.groups is None:
            found.append(
                (
                    "target.groups",
                    "the app provisions groups (its groups section): set target.groups.base_dn, the OU "
                    "they are written to",
                )
            )
        return found

    def _disabled_ou_problem(self) -> str | None:
        """The disabled OU must be apart from the users OU, compared as DNs (case, spaces and
        escapes aside): an account in it is read as disabled, one moved there leaves the users OU."""
        if self.disable.mode != "move":
            return None
        from provisioning.connectors.directory.ldap.values import canonical_dn, under

        disabled, users = canonical_dn(self.disable.base_dn), canonical_dn(self.users.base_dn)
        if disabled == users:
            return "disable.base_dn is users.base_dn: disabled accounts must be moved elsewhere"
        if under(disabled, users):
            return "disable.base_dn is under users.base_dn: disabled accounts must be moved outside it"
        if under(users, disabled):
            return "users.base_dn is under disable.base_dn: every account would be read as disabled"
        return None

    def entries(self, object_type: str) -> LdapEntries:
        """The users or groups section; a config without groups cannot be asked about groups."""
        if object_type == ObjectType.USER:
            return self.users
        if self.groups is None:
            raise ValueError("target.groups is not set: the LDAP target has nowhere to write groups")
        return self.groups

    @staticmethod
    def normalize_path(text: str) -> str:
        return text.strip()

    @staticmethod
    def path_problem(text: str) -> str | None:
        return attribute_problem(text)

    def attribute_path(self, text: str, object_type: str) -> AttributePath:
        name = text.strip().lower()
        required = name in self._section(object_type).required()
        return AttributePath(
            text,
            identifier=name in (self._rdn(object_type), "uid", "mail"),
            email=name == "mail",
            required=required,
        )

    def required_attribute(self, object_type: str) -> tuple[str, str]:
        """The RDN attribute: an entry cannot be named without it."""
        return self._section(object_type).rdn_attribute, "it names the LDAP entry"

    def unique_attributes(self, object_type: str) -> tuple[str, ...]:
        """The RDN is unique under the OU: the server refuses a second entry with the same DN."""
        return (self._rdn(object_type),)

    @staticmethod
    def case_sensitive_by_default(text: str) -> bool:
        """Naming and personal attributes (uid, cn, mail, sn) compare ignoring case in LDAP."""
        return False

    def _section(self, object_type: str) -> LdapEntries:
        if object_type != ObjectType.GROUP:
            return self.users
        # without target.groups (the opener refuses an app that provisions groups so), group
        # mappings are judged as LDAP's default: groupOfNames named by cn
        return self.groups or UNCONFIGURED_GROUPS

    def _rdn(self, object_type: str) -> str:
        return self._section(object_type).rdn_attribute.lower()


class SynapseTargetConfig(TargetSection):
    """A Matrix Synapse homeserver through its admin API (docs/targets/synapse.md); mapping targets
    are its fields: users ``localpart`` (required), ``displayname``, ``email``, ``admin``; groups
    (rooms the connection's account creates) ``alias`` (required), ``name``, ``topic``."""

    kind: Literal["synapse"] = "synapse"
    server_name: str | None = Field(
        None,
        min_length=1,
        description="the homeserver's name (the part after ':' in user ids); when set, a connection "
        "to a server of another name is refused before anything is written",
    )
    room_preset: Literal["private_chat", "trusted_private_chat", "public_chat"] = Field(
        "private_chat", description="how the rooms made for groups are created (who may join, see history)"
    )
    disable: Literal["lock", "deactivate"] = Field(
        "lock",
        description="how an account leaving scope is disabled: 'lock' (it cannot log in, keeps its "
        "rooms, e-mail addresses and password; reversible) or 'deactivate' (Matrix deactivation: it also "
        "leaves every room and loses its password)",
    )

    def settings_problems(self, config: AppConfig) -> list[tuple[str, str]]:
        """A field of the other object type (``alias`` on users, ``email`` on groups) passes the
        path check, which does not know the object type: caught here, before any cycle."""
        found = []
        for where, object_type in (("users", ObjectType.USER), ("groups", ObjectType.GROUP)):
            section = getattr(config, where)
            fields = synapse_fields.FIELDS[object_type]
            for index, mapping in enumerate(section.mappings if section else []):
                name = mapping.target.strip().lower()
                if synapse_fields.field_problem(name) is None and name not in fields:
                    found.append(
                        (
                            f"{where}.mappings[{index}].target",
                            f"{mapping.target!r} is not a Synapse {object_type} field "
                            f"({object_type} fields: {', '.join(fields)})",
                        )
                    )
        return found

    @staticmethod
    def normalize_path(text: str) -> str:
        """Fields are one word each, case-insensitive: ``displayName`` is ``displayname``."""
        text = text.strip()
        return text.lower() if synapse_fields.field_problem(text) is None else text

    @staticmethod
    def path_problem(text: str) -> str | None:
        return synapse_fields.field_problem(text)

    @staticmethod
    def attribute_path(text: str, object_type: str) -> AttributePath:
        return synapse_fields.field_path(text, object_type)

    @staticmethod
    def required_attribute(object_type: str) -> tuple[str, str]:
        why = "it is the Matrix user id" if object_type == ObjectType.USER else "it is the room's alias"
        return synapse_fields.REQUIRED[object_type], why

    @staticmethod
    def unique_attributes(object_type: str) -> tuple[str, ...]:
        return (synapse_fields.REQUIRED[object_type],) if object_type in synapse_fields.FIELDS else ()

    @staticmethod
    def case_sensitive_by_default(text: str) -> bool:
        return text.strip().lower() not in synapse_fields.CASE_INSENSITIVE


DEFAULT_TARGET_KIND = "scim"  # app files written before targets had kinds
TARGET_MODELS: dict[str, type[ScimTargetConfig] | type[LdapTargetConfig] | type[SynapseTargetConfig]] = {
    "scim": ScimTargetConfig,
    "ldap": LdapTargetConfig,
    "synapse": SynapseTargetConfig,
}

TargetConfig = Annotated[
    Annotated[ScimTargetConfig, Tag("scim")]
    | Annotated[LdapTargetConfig, Tag("ldap")]
    | Annotated[SynapseTargetConfig, Tag("synapse")],
    by_kind(tuple(TARGET_MODELS), default=DEFAULT_TARGET_KIND),
]


def path_rules(kind: object) -> TargetPathRules:
    """The path rules of a kind; an unknown kind (reported on its own) is judged as the default."""
    return TARGET_MODELS.get(kind if isinstance(kind, str) else "", TARGET_MODELS[DEFAULT_TARGET_KIND])
