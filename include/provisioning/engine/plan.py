"""Diff: desired state vs the last state applied to the app -> the actions of one cycle.

The comparison is against the snapshot we last applied (or read from the app when an account
was matched), never against a fresh read of the app: that is what lets a cycle with no directory
change make zero API calls. Only paths whose values changed are PATCHed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from provisioning.engine.desired import OUT_OF_SCOPE_DELETED, DesiredUser
from provisioning.engine.expressions import UNIQUE
from provisioning.engine.mapping import CompiledMapping, redact
from provisioning.engine.scim_path import ScimPath, build_resource, patch_operations

CREATE, UPDATE, ENABLE, DISABLE, DELETE, SKIP = "create", "update", "enable", "disable", "delete", "skip"
ADD_MEMBERS, REMOVE_MEMBERS, REPLACE_MEMBERS = "add_members", "remove_members", "replace_members"
ACTIONS = (CREATE, UPDATE, ENABLE, DISABLE, DELETE)
MEMBER_ACTIONS = (ADD_MEMBERS, REMOVE_MEMBERS, REPLACE_MEMBERS)
DEPROVISIONS = (DISABLE, DELETE)  # what the accidental-deletion threshold counts
USER, GROUP, MEMBERSHIP = "user", "group", "membership"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# SCIM requires userName on every user (RFC 7643 4.1): a create without it can only fail.
REQUIRED_ON_CREATE = ("username",)


@dataclass(frozen=True)
class LinkState:
    """What the state store knows of one linked object."""

    target_id: str
    attributes: dict[str, Any]
    active: bool | None  # None: the app's record says nothing, so neither state is assumed
    disabled_at: datetime | None = None


@dataclass
class PlannedAction:
    action: str
    source_id: str
    display: str
    target_id: str | None
    payload: dict[str, Any] | None  # create body, or PATCH body
    attributes: dict[str, Any]  # the snapshot once applied
    active: bool
    modified: list[dict[str, Any]] = field(default_factory=list)  # [{path, old, new}], redacted
    reason: str | None = None
    object_type: str = USER
    change_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    approved_by: str | None = None  # who approved this removal (not counted again in the window)

    @property
    def phase(self) -> int:
        return phase_of(self.object_type, self.action)


def phase_of(object_type: str, action: str) -> int:
    """Apply order: users first, then groups, then memberships (which reference both)."""
    return {USER: 0, GROUP: 1, MEMBERSHIP: 2}[object_type]


@dataclass
class Plan:
    actions: list[PlannedAction]
    skipped: list[tuple[str, str, str, str]]  # (source id, display, code, reason)
    unchanged: int
    notes: list[tuple[str, str, str, str]] = field(default_factory=list)  # logged, not skipped

    def counts(self) -> dict[str, int]:
        counts = Counter(a.action for a in self.actions)
        result = {name: counts.get(name, 0) for name in ACTIONS}
        result.update(unchanged=self.unchanged, skipped=len(self.skipped))
        return result


@dataclass(frozen=True)
class DeprovisionPolicy:
    """Config's ``users.deprovision``: disable, delete (optionally after days disabled) or skip."""

    action: str = DISABLE
    delete_after_days: int = 0

    def plan(self, source_id: str, display: str, link: LinkState, reason: str | None, now: datetime):
        """The action for a linked account whose user left scope, or None. An account whose state
        is unknown may be active, so it is disabled like an active one."""
        if self.action == "skip":
            return None
        if self.action == DELETE:
            if self.delete_after_days == 0:
                return _deprovision(DELETE, source_id, display, link, reason)
            if link.active is False:
                since = link.disabled_at
                if since is not None and now - since >= timedelta(days=self.delete_after_days):
                    return _deprovision(
                        DELETE, source_id, display, link, f"disabled for {self.delete_after_days}+ days"
                    )
                return None
        return _deprovision(DISABLE, source_id, display, link, reason) if link.active is not False else None


def plan_users(
    desired: Iterable[DesiredUser],
    links: dict[str, LinkState],
    mappings: Sequence[CompiledMapping],
    paths: dict[str, ScimPath],
    allowed: Iterable[str],
    excluded: Iterable[str] = (),
    is_taken: Callable[[str, Any], bool] | None = None,
    deprovision: DeprovisionPolicy = DeprovisionPolicy(),
    now: datetime | None = None,
) -> Plan:
    """Compute the actions. ``excluded`` are sources already settled this cycle (conflicts, skips);
    ``is_taken(path, value)`` tells whether the app already uses a SelectUniqueValue candidate."""
    allowed = set(allowed)
    excluded = set(excluded)
    create_only = {m.target for m in mappings if m.on_create_only}
    only_if_empty = {m.target for m in mappings if m.only_if_empty}
    clear_when_null = [m.target for m in mappings if m.clear_when_null]
    sensitive = frozenset(m.target for m in mappings if m.sensitive)
    actions: list[PlannedAction] = []
    skipped: list[tuple[str, str, str, str]] = []
    unchanged = 0
    seen: set[str] = set()
    leaving: list[tuple[str, str, LinkState, str | None]] = []
    # per SelectUniqueValue target: values our linked accounts hold and values chosen this cycle;
    # built on first use, so cycles without SelectUniqueValue pay nothing
    taken_by_path: dict[str, set[str]] = {}

    def taken_here(path: str) -> set[str]:
        if path not in taken_by_path:
            taken_by_path[path] = {
                v for link in links.values() if isinstance(v := link.attributes.get(path), str)
            }
        return taken_by_path[path]

    def not_allowed(user: DesiredUser, action: str) -> None:
        skipped.append(
            (user.source_id, user.display, "ActionNotAllowed", f"{action} is not allowed by the app config")
        )

    for user in desired:
        seen.add(user.source_id)
        if user.source_id in excluded:
            continue
        link = links.get(user.source_id)
        if user.error:
            skipped.append((user.source_id, user.display, user.error_code or "MappingError", user.error))
            continue
        if user.in_scope and link is None:
            if CREATE not in allowed:
                not_allowed(user, CREATE)
                continue
            values = {k: v for k, v in user.attributes.items() if v is not None}
            unresolved = [k for k, v in values.items() if isinstance(v, dict) and UNIQUE in v]
            for path in unresolved:
                chosen = next(
                    (
                        c
                        for c in values[path][UNIQUE]
                        if c not in taken_here(path) and not (is_taken and is_taken(path, c))
                    ),
                    None,
                )
                if chosen is None:
                    break
                taken_here(path).add(chosen)
                values[path] = chosen
            else:
                unresolved = []
            if unresolved:
                skipped.append(
                    (
                        user.source_id,
                        user.display,
                        "UniqueValueUnavailable",
                        f"every SelectUniqueValue candidate for {unresolved[0]} is already taken",
                    )
                )
                continue
            missing = [
                path
                for path in paths
                if paths[path].text.lower() in REQUIRED_ON_CREATE and path not in values
            ]
            if missing:
                skipped.append(
                    (
                        user.source_id,
                        user.display,
                        "MissingRequiredAttribute",
                        f"{', '.join(missing)} has no value",
                    )
                )
                continue
            payload = build_resource(values, paths)
            payload["active"] = True
            modified = [{"path": k, "old": None, "new": redact(k, v, sensitive)} for k, v in values.items()]
            actions.append(
                PlannedAction(CREATE, user.source_id, user.display, None, payload, values, True, modified)
            )
        elif user.in_scope:
            changes = {
                path: value
                for path, value in user.attributes.items()
                if value is not None
                and path not in create_only
                and link.attributes.get(path) != value
                and (path not in only_if_empty or link.attributes.get(path) in (None, ""))
            }
            cleared = [
                p
                for p in clear_when_null
                if user.attributes.get(p) is None and link.attributes.get(p) is not None
            ]
            action = ENABLE if not link.active else UPDATE
            if action == UPDATE and not changes and not cleared:
                unchanged += 1
                continue
            if UPDATE not in allowed:  # re-enabling is an update of `active`, as in Entra
                not_allowed(user, action)
                continue
            ops = patch_operations(changes, link.attributes, paths) + [
                {"op": "remove", "path": p} for p in cleared
            ]
            if action == ENABLE:
                ops.append({"op": "replace", "path": "active", "value": True})
            modified = [
                {
                    "path": p,
                    "old": redact(p, link.attributes.get(p), sensitive),
                    "new": redact(p, v, sensitive),
                }
                for p, v in changes.items()
            ]
            modified += [
                {"path": p, "old": redact(p, link.attributes.get(p), sensitive), "new": None} for p in cleared
            ]
            if action == ENABLE:
                modified.append({"path": "active", "old": False, "new": True})
            actions.append(
                PlannedAction(
                    action,
                    user.source_id,
                    user.display,
                    link.target_id,
                    {"schemas": [PATCH_SCHEMA], "Operations": ops},
                    {**link.attributes, **changes, **dict.fromkeys(cleared)},
                    True,
                    modified,
                )
            )
        elif link is not None:
            leaving.append((user.source_id, user.display, link, user.reason))
        # out of scope and never provisioned: nothing to do

    leaving += [
        (source_id, source_id, link, OUT_OF_SCOPE_DELETED)
        for source_id, link in links.items()
        if source_id not in seen and source_id not in excluded
    ]
    when = now or datetime.now().astimezone()
    for source_id, display, link, reason in leaving:
        action = deprovision.plan(source_id, display, link, reason, when)
        if action is None:
            continue
        if action.action not in allowed:  # a delete needs `delete` in actions, whatever the policy says
            skipped.append(
                (source_id, display, "ActionNotAllowed", f"{action.action} is not allowed by the app config")
            )
        else:
            actions.append(action)
    return Plan(actions, skipped, unchanged)


def _deprovision(
    action: str, source_id: str, display: str, link: LinkState, reason: str | None
) -> PlannedAction:
    if action == DELETE:
        return PlannedAction(
            DELETE, source_id, display, link.target_id, None, link.attributes, False, [], reason
        )
    return PlannedAction(
        DISABLE,
        source_id,
        display,
        link.target_id,
        {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        link.attributes,
        False,
        [{"path": "active", "old": True, "new": False}],
        reason,
    )
