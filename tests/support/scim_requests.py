"""The SCIM request body the SCIM connector sends for a planned action, so that plan tests assert
what reaches the app (the engine itself plans neutral changes)."""

from __future__ import annotations

from typing import Any

from provisioning.connectors.scim.paths import attribute_path, parse_scim_path
from provisioning.connectors.scim.payloads import create_body, patch, update_body
from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.plan import PlannedAction


def scim_request(action: PlannedAction) -> dict[str, Any]:
    payload = action.payload or {}
    if action.action == "create":
        attributes = payload["attributes"]
        paths = {text: parse_scim_path(text) for text in attributes}
        return create_body(action.object_type, attributes, paths, payload["active"])
    if action.action == "disable":
        return patch([{"op": "replace", "path": "active", "value": payload["active"]}])
    change = AttributeUpdate.from_payload(payload)
    return update_body(change, {text: parse_scim_path(text) for text in [*change.set, *change.clear]})


def scim_paths(mappings, object_type: str = "user") -> dict[str, AttributePath]:
    """The attribute paths the SCIM target kind makes of these mappings' targets."""
    return {m.target: attribute_path(parse_scim_path(m.target), object_type) for m in mappings}
