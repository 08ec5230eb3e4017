"""SCIM app profiles: what one app's SCIM implementation accepts, as data (``target.profile``).

Apps that speak SCIM 2.0 each implement a subset of it and add limits of their own: AWS IAM
Identity Center filters with ``eq`` only and returns groups without members, GitHub requires a
``User-Agent``, Slack rations requests for the whole organisation, Salesforce serves its
capabilities at ``/ServiceProviderConfigs``. A profile records those facts; the SCIM connector
and the cycle obey them, so no code asks which app it talks to.

An app config names a built-in preset, or a preset with overrides, or a profile from scratch::

    target: {kind: scim, conn_id: aws, profile: aws_identity_center}
    target: {kind: scim, conn_id: gh, profile: {preset: github_emu, requests_per_second: 0.2}}
    target: {kind: scim, conn_id: x, profile: {max_members_per_patch: 50}}   # no preset

The presets (``PRESETS``) come from each app's own documentation, cited per preset; a number the
documentation does not state is left unset (no limit assumed) rather than guessed, and
docs/targets/scim_profiles.md says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from provisioning.config.strict import StrictModel

if TYPE_CHECKING:
    from provisioning.config.app import AppConfig

FilterOperator = Literal["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not"]
ObjectKind = Literal["user", "group"]
# headers the client sets itself: a profile that sets them would break auth or the SCIM media type
RESERVED_HEADERS = frozenset({"authorization", "content-type", "accept", "content-length", "host"})


class ScimProfile(StrictModel):
    """One app's SCIM behaviour. Every field has the RFC 7644 default, so an empty profile is a
    standard SCIM app; ``preset`` names the built-in profile the other fields start from."""

    preset: str | None = Field(None, description="the built-in profile these settings start from")
    filter_operators: list[FilterOperator] | None = Field(
        None, description="filter operators the app accepts (null: all of RFC 7644)"
    )
    filter_attributes: dict[ObjectKind, list[str]] | None = Field(
        None,
        description="per object type, the attributes the app can filter by (null: any); a lookup by "
        "another attribute is not sent, the cycle matches from a listing instead",
    )
    group_reads_members: bool = Field(
        True,
        description="false: the app's group reads carry no members, so the cycle diffs memberships "
        "against the state store's record of what it last wrote",
    )
    max_members_per_patch: int | None = Field(
        None, ge=1, le=100_000, description="most member values in one group PATCH (null: no limit)"
    )
    member_replace: bool = Field(
        True, description="false: the app refuses a PATCH that replaces (or removes) all members at once"
    )
    paging: Literal["index", "cursor", "none"] = Field(
        "index",
        description="index: startIndex/count (RFC 7644); cursor: cursor/nextCursor (RFC 9865); none: "
        "one request, the whole list in one answer (for apps that fail on count)",
    )
    max_page_size: int | None = Field(
        None, ge=1, le=1000, description="most resources per page the app returns (caps target.page_size)"
    )
    attribute_selection: bool = Field(
        True, description="false: the app takes no attributes/excludedAttributes query parameters"
    )
    update_method: Literal["patch", "put"] = Field(
        "patch", description="how users and group attributes are updated (members always by PATCH)"
    )
    delete_allowed: bool = Field(
        True,
        description="false: a user DELETE is refused (permanent in the app); deprovision by active=false",
    )
    requests_per_second: float | None = Field(
        None, gt=0, le=10_000, description="the app's documented rate (target.requests_per_second's default)"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")
    service_provider_config_path: str = Field(
        "/ServiceProviderConfig", description="where the app describes its features, under the base URL"
    )
    required_on_create: dict[ObjectKind, list[str]] = Field(
        default_factory=dict,
        description="attributes the app requires when an object is created; the app's mappings must "
        "provide them",
    )
    users_before_groups: bool = Field(
        True,
        description="users are created (and disabled) before groups are written; the cycle always "
        "orders its phases so, and refuses false rather than pretend to honour it",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, raw: object) -> object:
        """A ``preset`` fills every field the mapping does not set."""
        if isinstance(raw, dict) and raw.get("preset") is not None:
            preset = raw["preset"]
            if preset not in PRESETS:
                raise ValueError(
                    f"unknown SCIM profile preset {preset!r} (known presets: {', '.join(PRESETS)})"
                )
            return {**PRESETS[preset], **raw}
        return raw

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(name for name in value if name.strip().lower() in RESERVED_HEADERS)
        if reserved:
            raise ValueError(f"{', '.join(reserved)} is set by the SCIM client itself, not by a profile")
        return value

    @field_validator("service_provider_config_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or "?" in value or "#" in value:
            raise ValueError("a path under the base URL, starting with '/', e.g. /ServiceProviderConfig")
        return value

    @field_validator("users_before_groups")
    @classmethod
    def _order(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "the cycle always applies users before groups (memberships need the users' app ids); "
                "no app is known to need the opposite"
            )
        return value

    @model_validator(mode="after")
    def _put_needs_members(self) -> ScimProfile:
        if self.update_method == "put" and not self.group_reads_members:
            raise ValueError(
                "update_method put replaces a whole group, members included, and the app does not "
                "return members (group_reads_members: false): the PUT would empty the group"
            )
        return self

    def filterable(self, object_type: str, attribute: str) -> bool:
        """Whether the app accepts ``attribute eq "value"`` on this object type."""
        if self.filter_operators is not None and "eq" not in self.filter_operators:
            return False
        if self.filter_attributes is None:
            return True
        allowed = {a.lower() for a in self.filter_attributes.get(object_type, [])}  # type: ignore[call-overload]
        return attribute.lower() in allowed


# Built-in presets, each from its app's documentation (links in docs/targets/scim_profiles.md).
PRESETS: dict[str, dict[str, Any]] = {
    # AWS IAM Identity Center SCIM Implementation Developer Guide: "Limitations from SCIM
    # specification" (only eq with and; PatchGroup supports no replace or remove-all), PatchGroup
    # ("a maximum of 100 membership changes are allowed in a single request"), GetGroup/ListGroups
    # ("return an empty member list"), ListUsers/ListGroups (cursor and count, count 1..100;
    # startIndex, attributes and excludedAttributes not supported; user filters: userName,
    # externalId, groups.value, id with manager). CreateUser's required attributes (userName,
    # displayName, name.givenName, name.familyName) are from its CreateUser page, not re-checked.
    # No request rate is published in the SCIM guide: none is assumed.
    "aws_identity_center": {
        "filter_operators": ["eq", "and"],
        "filter_attributes": {
            "user": ["userName", "externalId", "id"],
            "group": ["displayName", "externalId"],
        },
        "group_reads_members": False,
        "max_members_per_patch": 100,
        "member_replace": False,
        "paging": "cursor",
        "max_page_size": 100,
        "attribute_selection": False,
        "required_on_create": {
            "user": ["userName", "displayName", "name.givenName", "name.familyName"],
            "group": ["displayName"],
        },
    },
    # GitHub Enterprise Cloud, "Provisioning users and groups with SCIM using the REST API" (EMU):
    # provision users before groups; a DELETE permanently deletes the managed user, so deprovision
    # with active=false (a suspension the IdP can undo). Every GitHub REST request needs a
    # User-Agent. The rate (about 1,000 users an hour, 1000/3600 requests a second) is the issue's
    # figure: the pages searched here did not state it, so it is marked unconfirmed in the docs.
    "github_emu": {
        "filter_operators": ["eq"],
        "delete_allowed": False,
        "requests_per_second": 0.27,
        "headers": {"User-Agent": "directory-provisioning"},
        "required_on_create": {"user": ["userName", "externalId", "displayName"], "group": ["displayName"]},
    },
    # Slack "SCIM API rate limits": limits apply to all SCIM apps of the org together; on 429
    # honour Retry-After. Org-wide writes 600/min (burst 180), reads 1000/min; POST /Users and
    # PATCH/PUT/DELETE /Users/<id> 180/min each (burst 20): 3 requests a second holds every write
    # endpoint below its limit. Slack documents no member-per-PATCH cap for groups here.
    "slack": {
        "filter_operators": ["eq"],
        "requests_per_second": 3.0,
    },
    # Salesforce Help, "Understand the SCIM Implementation": capabilities at
    # /ServiceProviderConfigs (filter maxResults 200, OAuth 2.0 only: use the connection's OAuth
    # client credentials); "Example: Create Users with SCIM": include all the User object's
    # required fields, the profile as an entitlement (entitlements [{value: profile id}]).
    # Salesforce's API limits are per 24 hours per org, not a per-second rate: none is assumed.
    "salesforce": {
        "service_provider_config_path": "/ServiceProviderConfigs",
        "max_page_size": 200,
        "required_on_create": {"user": ["userName", "name.familyName", "emails", "entitlements"]},
    },
}


def resolve_profile(value: object) -> object:
    """``target.profile`` as written: a preset's name means that preset unchanged."""
    return {"preset": value} if isinstance(value, str) else value


def profile_problems(config: AppConfig, profile: ScimProfile | None) -> list[tuple[str, str]]:
    """What the app's profile rules out in the rest of its config, each at the field to fix: a
    created object lacking an attribute the app requires, deletes the app must not receive, a
    member replace it refuses, pages larger than it serves."""
    if profile is None:
        return []
    name = f"app {config.app!r} (SCIM profile {profile.preset or 'without preset'})"
    found: list[tuple[str, str]] = []
    sections = {"user": ("users", config.users), "group": ("groups", config.groups)}
    for object_type, required in profile.required_on_create.items():
        where, section = sections[object_type]
        if section is None:
            continue
        mapped = [m.target.lower() for m in section.mappings]
        for attribute in required:
            if not any(_provides(target, attribute.lower()) for target in mapped):
                found.append(
                    (
                        f"{where}.mappings",
                        f"{name} requires {attribute!r} when a {object_type} is created: map it "
                        "(a constant value will do)",
                    )
                )
    if not profile.delete_allowed:
        why = f"{name} does not allow DELETE of users (it is permanent there); deprovision with disable"
        if config.users.deprovision.action == "delete":
            found.append(("users.deprovision.action", why))
        if "delete" in config.users.actions:
            found.append(("users.actions", why))
    groups = config.groups
    if groups is not None and groups.members.removal == "replace":
        if not profile.member_replace:
            found.append(
                ("groups.members.removal", f"{name} refuses replacing a group's members at once; use rfc")
            )
        elif profile.max_members_per_patch is not None:
            found.append(
                (
                    "groups.members.removal",
                    f"{name} takes at most {profile.max_members_per_patch} members a PATCH: a replace "
                    "in several PATCHes would leave members out of the group between them; use rfc",
                )
            )
    if profile.max_page_size is not None and config.target.page_size > profile.max_page_size:
        found.append(("target.page_size", f"{name} returns at most {profile.max_page_size} resources a page"))
    return found


def _provides(target: str, attribute: str) -> bool:
    """Whether a mapping to ``target`` gives the created object ``attribute`` (both lower case):
    the attribute itself or a part of it (``emails[type eq "work"].value`` provides ``emails``)."""
    return target == attribute or target.startswith((attribute + ".", attribute + "["))
