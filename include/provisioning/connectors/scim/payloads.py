"""Neutral changes as SCIM requests (RFC 7644 3.3 create, 3.5.2 PATCH).

Only paths whose values changed are sent; a re-enable and its attribute changes go in one PATCH;
member removals take the form the app understands (``rfc``: one ``members[value eq "id"]`` path
per member; ``entra``: one ``remove`` with a value list, as Microsoft Entra sends them).
"""

from __future__ import annotations

from typing import Any

from provisioning.connectors.scim.client import escape_filter_value
from provisioning.connectors.scim.paths import CORE_USER_SCHEMA, GROUP_SCHEMA, ScimPath
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import ObjectType

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def create_body(
    object_type: str, attributes: dict[str, Any], paths: dict[str, ScimPath], active: bool | None
) -> dict[str, Any]:
    schema = GROUP_SCHEMA if object_type == ObjectType.GROUP else CORE_USER_SCHEMA
    body = build_resource(attributes, paths, schema)
    if active is not None:
        body["active"] = active
    return body


def update_body(change: AttributeUpdate, paths: dict[str, ScimPath]) -> dict[str, Any]:
    operations = patch_operations(change.set, change.previous, paths)
    operations += [{"op": "remove", "path": p} for p in change.clear]
    if change.active is not None:
        operations.append({"op": "replace", "path": "active", "value": change.active})
    return patch(operations)


def put_body(current: dict[str, Any], change: AttributeUpdate, paths: dict[str, ScimPath]) -> dict[str, Any]:
    """The whole resource with ``change`` applied, for apps updated by PUT: what the app holds
    (read just before), its read-only ``meta`` left out, a cleared path set to null (unassigned,
    RFC 7643 2.5)."""
    body = {k: v for k, v in current.items() if k != "meta"}
    for text, value in change.set.items():
        paths[text].set(body, value)
    for text in change.clear:
        paths[text].set(body, None)
    if change.active is not None:
        body["active"] = change.active
    return body


def members_body(op: str, member_ids: list[str]) -> dict[str, Any]:
    """``add`` or ``replace`` the group's members with these app ids."""
    return patch([{"op": op, "path": "members", "value": [{"value": m} for m in member_ids]}])


def remove_members_body(member_ids: list[str], style: str) -> dict[str, Any]:
    if style == "entra":
        return patch([{"op": "remove", "path": "members", "value": [{"value": m} for m in member_ids]}])
    return patch(
        [{"op": "remove", "path": f'members[value eq "{escape_filter_value(m)}"]'} for m in member_ids]
    )


def patch(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": operations}


def build_resource(
    values: dict[str, Any], paths: dict[str, ScimPath], schema: str = CORE_USER_SCHEMA
) -> dict[str, Any]:
    """Build a SCIM resource (User unless told) from flat ``path -> value`` pairs, skipping nulls."""
    resource: dict[str, Any] = {"schemas": [schema]}
    for text, value in values.items():
        if value is None:
            continue
        paths[text].set(resource, value)
    return resource


def patch_operations(
    new_values: dict[str, Any], old_values: dict[str, Any], paths: dict[str, ScimPath]
) -> list[dict[str, Any]]:
    """PATCH operations that set ``new_values``, given what the app holds (``old_values``).

    A ``replace`` through a value filter that matches no element must fail with 400 noTarget
    (RFC 7644 3.5.2.3), so an element the account lacks is added whole instead; values for the
    same missing element (``emails[type eq "work"].value`` and ``.primary``) go in one element.
    """
    operations: list[dict[str, Any]] = []
    new_elements: dict[tuple[str | None, str, str, str | None], dict[str, Any]] = {}
    for text, value in new_values.items():
        path = paths[text]
        if path.is_multi_valued and old_values.get(text) is None:
            key = (path.schema, path.attribute, path.filter_attribute, path.filter_value)
            element = new_elements.get(key)
            if element is None:
                element = new_elements[key] = {path.filter_attribute: path.filter_literal}
                target = f"{path.schema}:{path.attribute}" if path.schema else path.attribute
                operations.append({"op": "add", "path": target, "value": [element]})
            element[path.sub_attribute] = value
        else:
            operations.append({"op": "replace", "path": text, "value": value})
    return operations
