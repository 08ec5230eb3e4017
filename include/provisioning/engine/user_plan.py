"""Diff for users: desired state vs the last state applied to the app -> this cycle's actions.

The comparison is against the snapshot we last applied (or read from the app when an account
was matched), never against a fresh read of the app: that is what lets a cycle with no directory
change make zero API calls. Only paths whose values changed are sent. Each branch below is one
case of Entra's user lifecycle: create, update (or re-enable), leave scope; anything that cannot
be sent is a ``Skip`` saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from provisioning.engine.attribute_path import AttributePath, missing_required
from provisioning.engine.changes import AttributeUpdate, create_payload, set_active_payload
from provisioning.engine.desired import OUT_OF_SCOPE_DELETED, DesiredUser
from provisioning.engine.expressions import UNIQUE
from provisioning.engine.lifecycle import Lifecycle, lifecycle_of, mover_paths
from provisioning.engine.mapping import CompiledMapping, redact, sensitive_paths
from provisioning.engine.plan import LinkState, Plan, PlannedAction, Skip
from provisioning.engine.vocabulary import Action


@dataclass(frozen=True)
class DeprovisionPolicy:
    """Config's ``users.deprovision``: disable, delete (optionally after days disabled) or skip."""

    action: str = Action.DISABLE
    delete_after_days: int = 0

    def plan(self, source_id: str, display: str, link: LinkState, reason: str | None, now: datetime):
        """The action for a linked account whose user left scope, or None. An account whose state
        is unknown may be active, so it is disabled like an active one."""
        if self.action == "skip":
            return None
        if self.action == Action.DELETE:
            if self.delete_after_days == 0:
                return _deprovision(Action.DELETE, source_id, display, link, reason)
            if link.active is False:
                since = link.disabled_at
                if since is not None and now - since >= timedelta(days=self.delete_after_days):
                    return _deprovision(
                        Action.DELETE,
                        source_id,
                        display,
                        link,
                        f"disabled for {self.delete_after_days}+ days",
                    )
                return None
        return (
            _deprovision(Action.DISABLE, source_id, display, link, reason)
            if link.active is not False
            else None
        )


@dataclass
class _UserPlanner:
    """The cycle's settings and what it has chosen so far (SelectUniqueValue picks)."""

    links: dict[str, LinkState]
    paths: dict[str, AttributePath]
    allowed: frozenset[str]
    mappings: Sequence[CompiledMapping]
    is_taken: Callable[[str, Any], bool] | None
    skipped: list[Skip] = field(default_factory=list)
    # per SelectUniqueValue target: values our linked accounts hold and values chosen this cycle;
    # built on first use, so cycles without SelectUniqueValue pay nothing
    taken_by_path: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.create_only = {m.target for m in self.mappings if m.on_create_only}
        self.only_if_empty = {m.target for m in self.mappings if m.only_if_empty}
        self.clear_when_null = [m.target for m in self.mappings if m.clear_when_null]
        self.sensitive = sensitive_paths(self.mappings)
        self.movers = mover_paths(self.mappings)

    def skip(self, user: DesiredUser, code: str, reason: str) -> None:
        self.skipped.append(Skip(user.source_id, user.display, code, reason))

    def allows(self, user: DesiredUser, action: str, needs: str | None = None) -> bool:
        """Whether the config's ``actions`` include ``needs`` (default: the action itself)."""
        if (needs or action) in self.allowed:
            return True
        self.skip(user, "ActionNotAllowed", f"{action} is not allowed by the app config")
        return False

    def create(self, user: DesiredUser) -> PlannedAction | None:
        if not self.allows(user, Action.CREATE):
            return None
        values: dict[str, Any] | None = user.attributes
        # a value to drop or a SelectUniqueValue to resolve: a copy of its own; otherwise the user's
        # dict is sent as it is (a copy per create was a tenth of a first cycle's diff)
        if any(v is None or isinstance(v, dict) for v in user.attributes.values()):
            values = self.unique_values(user, {k: v for k, v in user.attributes.items() if v is not None})
        if values is None:
            return None
        missing = missing_required(self.paths, values)
        if missing:
            self.skip(user, "MissingRequiredAttribute", f"{', '.join(missing)} has no value")
            return None
        return PlannedAction(
            Action.CREATE,
            user.source_id,
            user.display,
            None,
            create_payload(values, True),
            values,
            True,
            None,  # every attribute, from nothing: derived from ``values`` when read
            redacted=self.sensitive,
            lifecycle=Lifecycle.JOINER,
        )

    def unique_values(self, user: DesiredUser, values: dict[str, Any]) -> dict[str, Any] | None:
        """Resolve SelectUniqueValue candidates to the first one nobody holds; None (skipped) when
        every candidate of a path is taken."""
        for path, value in list(values.items()):
            if not (isinstance(value, dict) and UNIQUE in value):
                continue
            taken = self.taken(path)
            chosen = next(
                (
                    c
                    for c in value[UNIQUE]
                    if c not in taken and not (self.is_taken and self.is_taken(path, c))
                ),
                None,
            )
            if chosen is None:
                self.skip(
                    user,
                    "UniqueValueUnavailable",
                    f"every SelectUniqueValue candidate for {path} is already taken",
                )
                return None
            taken.add(chosen)
            values[path] = chosen
        return values

    def taken(self, path: str) -> set[str]:
        if path not in self.taken_by_path:
            self.taken_by_path[path] = {
                v for link in self.links.values() if isinstance(v := link.attributes.get(path), str)
            }
        return self.taken_by_path[path]

    def update(self, user: DesiredUser, link: LinkState) -> PlannedAction | None:
        """Changed paths only; an inactive (or unknown-state) account is re-enabled in the same change.
        Returns None when nothing changed or the change is not allowed (a skip says so)."""
        old = link.attributes
        changes = {
            path: value
            for path, value in user.attributes.items()
            if value is not None
            and path not in self.create_only
            and old.get(path) != value
            and (path not in self.only_if_empty or old.get(path) in (None, ""))
        }
        cleared = [
            p for p in self.clear_when_null if user.attributes.get(p) is None and old.get(p) is not None
        ]
        action = Action.ENABLE if not link.active else Action.UPDATE
        if action == Action.UPDATE and not changes and not cleared:
            return None
        if not self.allows(user, action, needs=Action.UPDATE):  # re-enabling updates `active`, as in Entra
            return None
        change = AttributeUpdate(
            set=changes,
            clear=cleared,
            previous={p: old.get(p) for p in changes},
            active=True if action == Action.ENABLE else None,
        )
        modified = [
            {"path": p, "old": redact(p, old.get(p), self.sensitive), "new": redact(p, v, self.sensitive)}
            for p, v in changes.items()
        ]
        modified += [{"path": p, "old": redact(p, old.get(p), self.sensitive), "new": None} for p in cleared]
        if action == Action.ENABLE:
            modified.append({"path": "active", "old": False, "new": True})
        return PlannedAction(
            action,
            user.source_id,
            user.display,
            link.target_id,
            change.to_payload(),
            {**old, **changes, **dict.fromkeys(cleared)},
            True,
            modified,
            lifecycle=lifecycle_of(action, [*changes, *cleared], self.movers),
        )


def plan_users(
    desired: Iterable[DesiredUser],
    links: dict[str, LinkState],
    mappings: Sequence[CompiledMapping],
    paths: dict[str, AttributePath],
    allowed: Iterable[str],
    excluded: Iterable[str] = (),
    is_taken: Callable[[str, Any], bool] | None = None,
    deprovision: DeprovisionPolicy = DeprovisionPolicy(),
    now: datetime | None = None,
) -> Plan:
    """Compute the actions. ``excluded`` are sources already settled this cycle (conflicts, skips);
    ``is_taken(path, value)`` tells whether the app already uses a SelectUniqueValue candidate."""
    planner = _UserPlanner(links, paths, frozenset(allowed), mappings, is_taken)
    excluded = set(excluded)
    actions: list[PlannedAction] = []
    unchanged = 0
    seen: set[str] = set()
    leaving: list[tuple[str, str, LinkState, str | None]] = []
    for user in desired:
        seen.add(user.source_id)
        if user.source_id in excluded:
            continue
        link = links.get(user.source_id)
        if user.error:
            planner.skip(user, user.error_code or "MappingError", user.error)
        elif user.in_scope and link is None:
            actions += filter(None, [planner.create(user)])
        elif user.in_scope:
            skips_before = len(planner.skipped)
            action = planner.update(user, link)
            if action is not None:
                actions.append(action)
            elif len(planner.skipped) == skips_before:
                unchanged += 1
        elif link is not None:
            leaving.append((user.source_id, user.display, link, user.reason))
        # out of scope and never provisioned: nothing to do
    leaving += [
        (source_id, source_id, link, OUT_OF_SCOPE_DELETED)
        for source_id, link in links.items()
        if source_id not in seen and source_id not in excluded
    ]
    actions += _leave_scope(leaving, deprovision, planner, now or datetime.now().astimezone())
    return Plan(actions, planner.skipped, unchanged)


def _leave_scope(
    leaving: list[tuple[str, str, LinkState, str | None]],
    deprovision: DeprovisionPolicy,
    planner: _UserPlanner,
    now: datetime,
) -> list[PlannedAction]:
    """Linked accounts whose user left scope (or the directory): the deprovisioning policy's action,
    which still needs its verb in the config's ``actions``."""
    actions = []
    for source_id, display, link, reason in leaving:
        action = deprovision.plan(source_id, display, link, reason, now)
        if action is None:
            continue
        if action.action not in planner.allowed:
            planner.skipped.append(
                Skip(
                    source_id,
                    display,
                    "ActionNotAllowed",
                    f"{action.action} is not allowed by the app config",
                )
            )
        else:
            actions.append(action)
    return actions


def _deprovision(
    action: str, source_id: str, display: str, link: LinkState, reason: str | None
) -> PlannedAction:
    if action == Action.DELETE:
        return PlannedAction(
            Action.DELETE,
            source_id,
            display,
            link.target_id,
            None,
            link.attributes,
            False,
            [],
            reason,
            lifecycle=Lifecycle.LEAVER,
        )
    return PlannedAction(
        Action.DISABLE,
        source_id,
        display,
        link.target_id,
        set_active_payload(False),
        link.attributes,
        False,
        [{"path": "active", "old": True, "new": False}],
        reason,
        lifecycle=Lifecycle.LEAVER,
    )
