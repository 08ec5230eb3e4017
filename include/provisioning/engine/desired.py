"""The desired state of every directory user for one app: in scope or not, and mapped attributes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from provisioning.engine.assignments import app_roles, assigned_user_ids, member_of
from provisioning.engine.directory_model import DISABLED_REASON, ROW_PROBLEM
from provisioning.engine.mapping import CompiledMapping, MappingError, map_row, normalize_value
from provisioning.engine.scoping import ScopingError, ScopingFilter, in_scope

OUT_OF_SCOPE_NOT_ASSIGNED = "not assigned to the app"
OUT_OF_SCOPE_DISABLED = "disabled in the directory"
OUT_OF_SCOPE_DELETED = "deleted from the directory"
OUT_OF_SCOPE_FILTERED = "outside the scoping filters"
INVALID_DATA = "InvalidDirectoryData"
# the source id of a row whose id is null: it names the row in the log, and no link can hold it
NULL_ID = "(null id)"
# accountEnabled spellings (docs/directory.md); anything else is not known to be enabled
ENABLED = frozenset({"true", "1", "yes", "y", "t", "on", "enabled"})
DISABLED = frozenset({"false", "0", "no", "n", "f", "off", "disabled"})


@dataclass(slots=True)  # no per-user __dict__: the diff holds one per directory user
class DesiredUser:
    source_id: str
    display: str  # userPrincipalName, for people reading the log
    in_scope: bool
    reason: str | None = None  # why out of scope
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # in scope, but its data could not be mapped: skipped, account left alone
    error_code: str | None = None  # MappingError unless validation says otherwise

    def to_record(self) -> dict[str, Any]:
        # not dataclasses.asdict: it deep-copies every value, 9 s of 15 s for 100,000 users
        return {
            "source_id": self.source_id,
            "display": self.display,
            "in_scope": self.in_scope,
            "reason": self.reason,
            "attributes": self.attributes,
            "error": self.error,
            "error_code": self.error_code,
        }


def desired_users(
    app: str,
    scope: str,
    users: pd.DataFrame,
    assignments: pd.DataFrame,
    memberships: pd.DataFrame,
    mappings: Sequence[CompiledMapping],
    filters: Sequence[ScopingFilter] = (),
    group_names: dict[str, str] | None = None,
) -> list[DesiredUser]:
    """Resolve scope and map attributes. Out-of-scope users carry no attributes: only their id matters."""
    assigned = assigned_user_ids(app, assignments, memberships) if scope == "assigned" else None
    roles = None
    if any(
        m.source == "appRoleAssignments" or (m.expression and "appRoleAssignments" in m.expression.attributes)
        for m in mappings
    ):
        roles = app_roles(app, assignments, memberships)
    groups_of = None
    if any(clause.attribute == "memberOf" for f in filters for clause in f.clauses):
        groups_of = member_of(memberships, group_names or {})
    result = []
    for row in _rows(users):
        if roles is not None:
            row["appRoleAssignments"] = roles.get(str(row["id"]), [])
        if groups_of is not None:
            row["memberOf"] = groups_of.get(str(row["id"]), [])
        upn = normalize_value(row.get("userPrincipalName"))
        if row["id"] is None:
            result.append(_null_id(upn))
            continue
        source_id = str(row["id"])
        display = upn or source_id
        enabled = account_enabled(row.get("accountEnabled"))
        if row.get(ROW_PROBLEM):
            result.append(DesiredUser(source_id, display, True, None, {}, row[ROW_PROBLEM], INVALID_DATA))
        elif assigned is not None and source_id not in assigned:
            result.append(DesiredUser(source_id, display, False, OUT_OF_SCOPE_NOT_ASSIGNED))
        elif enabled is False:
            result.append(
                DesiredUser(source_id, display, False, row.get(DISABLED_REASON) or OUT_OF_SCOPE_DISABLED)
            )
        elif enabled is None:
            result.append(DesiredUser(source_id, display, False, _unknown_enabled(row.get("accountEnabled"))))
        else:
            result.append(_filtered_and_mapped(source_id, display, row, mappings, filters))
    return result


def _rows(users: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Each user as a dict of its columns, nulls as None, made when it is taken: the rows of a
    whole directory as dicts at once were a large part of the extract's peak (at 100,000
    users, 40 MB), and only the one being mapped is needed."""
    values = users.astype(object).where(users.notna(), None)
    columns = list(values.columns)
    for row in values.itertuples(index=False, name=None):
        yield dict(zip(columns, row, strict=True))


def _filtered_and_mapped(
    source_id: str,
    display: str,
    row: dict[str, Any],
    mappings: Sequence[CompiledMapping],
    filters: Sequence[ScopingFilter],
) -> DesiredUser:
    """A filter or mapping that fails on this user's data skips this user only (its account is
    left alone): it is neither provisioned nor deprovisioned on a guess."""
    try:
        if not in_scope(filters, row):
            return DesiredUser(source_id, display, False, OUT_OF_SCOPE_FILTERED)
        return DesiredUser(source_id, display, True, None, map_row(row, mappings))
    except ScopingError as exc:
        return DesiredUser(source_id, display, True, None, {}, str(exc), "ScopingError")
    except MappingError as exc:
        return DesiredUser(source_id, display, True, None, {}, str(exc))


def account_enabled(value: Any) -> bool | None:
    """accountEnabled as directories store it: a boolean, 1/0, or one of the documented words in
    any case. None for anything else, NULL included: a leaver marked 'terminated' must not keep
    access because the value was not the word we expected."""
    value = normalize_value(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ENABLED or text in DISABLED:
            return text in ENABLED
    return None


def _unknown_enabled(value: Any) -> str:
    """The out-of-scope reason, which the disable's log row shows: the value and what it meant."""
    value = normalize_value(value)
    shown = "null" if value is None else repr(value)
    return f"accountEnabled is {shown}, not a true/false value: treated as disabled"


def _null_id(upn: str | None) -> DesiredUser:
    """A row without an id cannot be provisioned or linked: logged, and the others go on."""
    display = upn or NULL_ID
    return DesiredUser(
        f"{NULL_ID} {display}"[:128],  # the state store's source id length
        display,
        True,
        attributes={},
        error="the directory row has a null id (users.id): it cannot be provisioned",
        error_code=INVALID_DATA,
    )
