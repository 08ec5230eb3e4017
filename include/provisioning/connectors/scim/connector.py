"""The SCIM target: the neutral connector verbs over a ScimClient.

Objects are read at the app config's mapped paths (plus any path a lookup asks for), so the cycle
sees flat ``path -> value`` records whatever the resource's nesting; changes become the requests
of payloads.py.

An app's profile (config/scim_profile.py) shapes the requests without the cycle knowing: a lookup
by an attribute the app cannot filter on is refused here (``QueryRefused``, the cycle then matches
from a listing) instead of being sent; group members the app does not return read as unknown
(None), so the cycle diffs against what it last wrote; member changes go in PATCHes of at most
the app's limit; updates are PUT when the app takes no PATCH; a user DELETE the app must not
receive is refused before it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provisioning.config import AppConfig
from provisioning.config.scim_profile import ScimProfile
from provisioning.connectors.http_connector import HttpConnector
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.errors import ScimError, ScimFilterRefused, ScimRejectedError
from provisioning.connectors.scim.paths import ScimPath, parse_scim_path
from provisioning.connectors.scim.payloads import (
    create_body,
    members_body,
    patch,
    put_body,
    remove_members_body,
    update_body,
)
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.mapping import compile_mappings, sensitive_paths
from provisioning.engine.vocabulary import ObjectType

MEMBERS = "members"
STANDARD = ScimProfile()  # an app without a profile: RFC 7644 as written


def client_options(profile: ScimProfile | None) -> dict[str, Any]:
    """The ``ScimClient`` settings an app profile decides (headers, paging, where the app
    describes itself); none for an app without a profile."""
    if profile is None:
        return {}
    return {
        "headers": dict(profile.headers),
        "paging": profile.paging,
        "service_provider_config_path": profile.service_provider_config_path,
        "attribute_selection": profile.attribute_selection,
        "max_page_size": profile.max_page_size,
    }


class ScimConnector(HttpConnector):
    """``paths``: object type -> the mapped target paths as the config writes them;
    ``member_removal``: how member removals are written (payloads.remove_members_body);
    ``profile``: what the app accepts (config/scim_profile.py), standard SCIM when None."""

    def __init__(
        self,
        client: ScimClient,
        paths: dict[str, list[str]],
        member_removal: str = "rfc",
        sensitive: dict[str, frozenset[str]] | None = None,
        profile: ScimProfile | None = None,
    ):
        self.client = client
        self.profile = profile or STANDARD
        self.endpoint = client.endpoint
        self.member_removal = member_removal
        self._paths = {kind: {text: parse_scim_path(text) for text in texts} for kind, texts in paths.items()}
        # object type -> the paths whose values an app's error text must not carry back to us
        self._sensitive = sensitive or {}

    @classmethod
    def for_app(cls, client: ScimClient, config: AppConfig) -> ScimConnector:
        """Reading the app config's mapped paths, writing member removals its way, masking its
        sensitive values in the app's answers."""
        sections = {ObjectType.USER: config.users}
        removal = "rfc"
        if config.groups:
            sections[ObjectType.GROUP] = config.groups
            removal = config.groups.members.removal
        paths = {kind: [m.target for m in section.mappings] for kind, section in sections.items()}
        sensitive = {kind: sensitive_paths(compile_mappings(s.mappings)) for kind, s in sections.items()}
        return cls(client, paths, removal, sensitive, getattr(config.target, "profile", None))

    def paths(self, object_type: str) -> dict[str, ScimPath]:
        return self._paths.setdefault(object_type, {})

    def _path(self, object_type: str, text: str) -> ScimPath:
        paths = self.paths(object_type)
        if text not in paths:
            paths[text] = parse_scim_path(text)
        return paths[text]

    def record(self, object_type: str, resource: dict[str, Any], with_members: bool = False) -> AppObject:
        """The resource as the cycle sees it. A group read ``with_members`` has its members (none
        when the app leaves the attribute out, as it does for an empty group); otherwise, or when
        the app's group reads never carry members (the profile), they are None: unknown, not empty."""
        members = resource.get(MEMBERS)
        if object_type == ObjectType.GROUP and with_members and self.profile.group_reads_members:
            members = members or []
        elif not self.profile.group_reads_members:
            members = None
        return AppObject(
            id=resource["id"],
            attributes={text: path.get(resource) for text, path in self.paths(object_type).items()},
            active=is_active(resource) if object_type == ObjectType.USER else None,
            members=None
            if members is None
            else [m["value"] for m in members if isinstance(m, dict) and m.get("value")],
        )

    # --- reads ---------------------------------------------------------------------------------

    def list(self, object_type: str, *, members: bool = True) -> Iterator[AppObject]:
        excluded = [MEMBERS] if object_type == ObjectType.GROUP and not members else None
        for resource in self.client.list_resources(object_type, excluded=excluded):
            yield self.record(object_type, resource, members)

    def find(self, object_type: str, path: str, value: str) -> list[AppObject]:
        name = self._path(object_type, path).filter_name
        if not self.profile.filterable(object_type, name):
            raise ScimFilterRefused(
                f"the app's profile ({self.profile.preset or 'custom'}) cannot filter {object_type}s "
                f"by {name}; not sent",
                attribute=name,
                scim_type="invalidFilter",
            )
        try:
            found = self.client.find_resources(object_type, name, value)
        except ScimError as exc:
            if exc.status == 400 and exc.scim_type in (None, "invalidFilter"):
                raise ScimFilterRefused(
                    "the app rejected the request",
                    attribute=name,
                    status=exc.status,
                    scim_type=exc.scim_type,
                    detail=exc.detail,
                    method=exc.method,
                    path=exc.path,
                ) from None
            raise
        return [self.record(object_type, r) for r in found]

    def get(self, object_type: str, app_id: str) -> AppObject:
        return self.record(object_type, self.client.get_resource(object_type, app_id), with_members=True)

    # --- writes --------------------------------------------------------------------------------

    def create(self, object_type: str, attributes: dict[str, Any], active: bool | None) -> AppObject:
        paths = {text: self._path(object_type, text) for text in attributes}
        created = self.client.create_resource(
            object_type,
            create_body(object_type, attributes, paths, active),
            self._hidden(object_type, attributes),
        )
        return self.record(object_type, created)

    def update(self, object_type: str, app_id: str, change: AttributeUpdate) -> None:
        paths = {text: self._path(object_type, text) for text in [*change.set, *change.clear]}
        hidden = self._hidden(object_type, change.set) + self._hidden(object_type, change.previous)
        if self.profile.update_method == "put":
            current = self.client.get_resource(object_type, app_id)
            self.client.put_resource(object_type, app_id, put_body(current, change, paths), hidden)
            return
        self.client.patch_resource(object_type, app_id, update_body(change, paths), hidden)

    def _hidden(self, object_type: str, values: dict[str, Any]) -> list[str]:
        """The request's values at sensitive paths, as text: what an error must not echo."""
        sensitive = self._sensitive.get(object_type, frozenset())
        return [str(v) for p, v in values.items() if p in sensitive and v not in (None, "")]

    def set_active(self, object_type: str, app_id: str, active: bool) -> None:
        if self.profile.update_method == "put":
            self.update(object_type, app_id, AttributeUpdate(set={}, previous={}, active=active))
            return
        self.client.patch_resource(
            object_type, app_id, patch([{"op": "replace", "path": "active", "value": active}])
        )

    def delete(self, object_type: str, app_id: str) -> None:
        if object_type == ObjectType.USER and not self.profile.delete_allowed:
            # the config check refuses such a config; this guards an outbox planned before it
            raise ScimRejectedError(
                f"the app's profile ({self.profile.preset or 'custom'}) does not allow deleting users "
                "(permanent there); not sent: deprovision with disable (active=false)",
                scim_type="deleteNotAllowed",
                method="DELETE",
            )
        self.client.delete_resource(object_type, app_id)

    def _member_chunks(self, member_ids: list[str]) -> list[list[str]]:
        """The members in PATCH-sized parts (the app's ``max_members_per_patch``)."""
        size = self.profile.max_members_per_patch or max(len(member_ids), 1)
        return [member_ids[i : i + size] for i in range(0, len(member_ids), size)]

    def add_members(self, group_id: str, member_ids: list[str]) -> None:
        for part in self._member_chunks(member_ids):
            self.client.patch_resource(ObjectType.GROUP, group_id, members_body("add", part))

    def remove_members(self, group_id: str, member_ids: list[str]) -> None:
        for part in self._member_chunks(member_ids):
            self.client.patch_resource(
                ObjectType.GROUP, group_id, remove_members_body(part, self.member_removal)
            )

    def replace_members(self, group_id: str, member_ids: list[str]) -> None:
        """One ``replace`` when it fits in a PATCH. Otherwise (an outbox planned before the config
        check refused ``removal: replace`` with a member cap) never a partial replace, which would
        drop the members of the later parts until they are sent: the missing members are added,
        then the others removed, each in capped parts, from the group as the app holds it."""
        parts = self._member_chunks(member_ids)
        if len(parts) <= 1:
            self.client.patch_resource(ObjectType.GROUP, group_id, members_body("replace", member_ids))
            return
        group = self.client.get_resource(ObjectType.GROUP, group_id)
        held = {m["value"] for m in group.get("members") or [] if isinstance(m, dict) and "value" in m}
        wanted = set(member_ids)
        self.add_members(group_id, [m for m in member_ids if m not in held])
        self.remove_members(group_id, sorted(held - wanted))


def is_active(resource: dict[str, Any]) -> bool | None:
    """None when the record has no ``active``: unknown, so the plan sends the desired value
    instead of assuming the account already has it."""
    active = resource.get("active")
    return None if active is None else active is not False
