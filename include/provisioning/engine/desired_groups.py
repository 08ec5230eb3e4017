"""The desired state of every directory group for one app: in scope or not, mapped attributes and
members (users at any depth, since SCIM apps rarely hold nested groups)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from provisioning.engine.assignments import user_members
from provisioning.engine.mapping import CompiledMapping, MappingError, map_row, normalize_value
from provisioning.engine.scoping import ScopingError, ScopingFilter, in_scope

OUT_OF_SCOPE_NOT_ASSIGNED = "group not assigned to the app"
OUT_OF_SCOPE_FILTERED = "group outside the scoping filters"


@dataclass(slots=True)  # no per-group __dict__: the diff holds one per directory group
class DesiredGroup:
    source_id: str
    display: str
    in_scope: bool
    reason: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    members: list[str] = field(default_factory=list)  # directory user ids, nested flattened

    def to_record(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "display": self.display,
            "in_scope": self.in_scope,
            "reason": self.reason,
            "attributes": self.attributes,
            "error": self.error,
            "members": self.members,
        }


def desired_groups(
    app: str,
    scope: str,
    groups: pd.DataFrame,
    assignments: pd.DataFrame,
    memberships: pd.DataFrame,
    mappings: Sequence[CompiledMapping],
    filters: Sequence[ScopingFilter] = (),
) -> list[DesiredGroup]:
    """``scope`` assigned: groups assigned to the app themselves (not the groups nested in them,
    as in Entra); all: every group. Scoping filters then narrow either set."""
    mine = assignments[(assignments["app"] == app) & (assignments["principal_type"] == "group")]
    assigned = set(mine["principal_id"])
    records = groups.astype(object).where(groups.notna(), None).to_dict("records")
    errors: dict[str, str] = {}
    wanted = [
        str(r["id"])
        for r in records
        if (scope == "all" or str(r["id"]) in assigned) and _in_scope(filters, r, errors)
    ]
    members = user_members(memberships, wanted)
    result = []
    for row in records:
        source_id = str(row["id"])
        display = normalize_value(row.get("displayName")) or source_id
        if scope == "assigned" and source_id not in assigned:
            result.append(DesiredGroup(source_id, display, False, OUT_OF_SCOPE_NOT_ASSIGNED))
        elif source_id in errors:
            result.append(DesiredGroup(source_id, display, True, None, {}, errors[source_id]))
        elif source_id not in members:
            result.append(DesiredGroup(source_id, display, False, OUT_OF_SCOPE_FILTERED))
        else:
            try:
                attributes = map_row(row, mappings)
            except MappingError as exc:
                result.append(DesiredGroup(source_id, display, True, None, {}, str(exc)))
                continue
            result.append(
                DesiredGroup(source_id, display, True, None, attributes, None, sorted(members[source_id]))
            )
    return result


def _in_scope(filters: Sequence[ScopingFilter], row: dict[str, Any], errors: dict[str, str]) -> bool:
    """A filter that cannot be decided on this group's data notes the error in ``errors``: the group
    is then skipped with that reason, neither provisioned nor deleted on a guess."""
    try:
        return in_scope(filters, row)
    except ScopingError as exc:
        errors[str(row["id"])] = str(exc)
        return False
