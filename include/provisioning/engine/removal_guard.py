"""The accidental-deletion guard: one rule for every change that takes access away.

Disables, deletes, group deletes and member removals (reverts of memberships made in the app
included) are counted per object type, each against its own base: a mass of member removals is
as much a lockout as a mass of disables. Two alarms hold them for an operator's approval:

- the **threshold**: too many removals in this cycle, or over a rolling window (a slow leak of a
  few percent per cycle adds up like a sudden one);
- a **collapse** of a directory relation (users, in-scope users, assignments, memberships)
  against the largest count healthy cycles saw over a longer window: a broken view or a
  half-synced source must never look like everyone leaving. It holds even with the threshold off.

Pure decisions: the cycle (cycle/guards.py) gathers the counts and stores what was held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from provisioning.engine.plan import PlannedAction
from provisioning.engine.vocabulary import Action, ObjectType

# What each object type loses by which action.
REMOVALS: dict[str, tuple[str, ...]] = {
    ObjectType.USER: (Action.DISABLE, Action.DELETE),
    ObjectType.GROUP: (Action.DELETE,),
    ObjectType.MEMBERSHIP: (Action.REMOVE_MEMBERS, Action.REPLACE_MEMBERS),
}
NOUNS = {ObjectType.USER: "account", ObjectType.GROUP: "group", ObjectType.MEMBERSHIP: "membership"}


def is_removal(object_type: str, action: str) -> bool:
    return action in REMOVALS.get(object_type, ())


def removed_members(action: PlannedAction) -> list[str]:
    """Directory ids of the members a membership action takes out of its group."""
    if action.action == Action.REMOVE_MEMBERS:
        return [member for member, _ in action.payload["members"]]
    if action.action == Action.REPLACE_MEMBERS:
        return list(action.payload.get("removed", []))
    return []


def removal_keys(action: PlannedAction) -> list[tuple[str, str, str, str]]:
    """One key per unit of access taken away: (object type, source id, action, member id).

    Held changes and approvals are bound to these keys, so a membership batch that is re-planned
    differently next cycle is still recognised member by member."""
    if not is_removal(action.object_type, action.action):
        return []
    if action.object_type == ObjectType.MEMBERSHIP:
        return [(ObjectType.MEMBERSHIP, action.source_id, action.action, m) for m in removed_members(action)]
    return [(action.object_type, action.source_id, action.action, "")]


@dataclass(frozen=True)
class Threshold:
    """Config's ``accidental_deletions``, as the guard needs it."""

    enabled: bool
    max_count: int
    max_percent: float
    min_count: int
    window_hours: float
    collapse_ratio: float


@dataclass(frozen=True)
class TypeCount:
    """Removals of one object type: planned now (not yet approved), applied recently without an
    approval (the rolling window), and the number of objects they come out of."""

    object_type: str
    planned: int
    recent: int
    base: int


@dataclass(frozen=True)
class Collapse:
    relation: str
    current: int
    baseline: int

    def describe(self) -> str:
        return f"the directory's {self.relation} fell to {self.current} from {self.baseline}"


def collapses(current: Mapping[str, int], baseline: Mapping[str, int], ratio: float) -> list[Collapse]:
    """Relations that shrank below ``ratio`` of their baseline (the healthy maximum)."""
    return [
        Collapse(relation, current[relation], baseline[relation])
        for relation in current
        if baseline.get(relation) and current[relation] < baseline[relation] * ratio
    ]


def held_types(counts: Iterable[TypeCount], shrunk: list[Collapse], policy: Threshold) -> dict[str, str]:
    """Object type -> why its removals wait for approval; types absent from the result may go."""
    held: dict[str, str] = {}
    collapsed = (
        f"{'; '.join(c.describe() for c in shrunk)} (below {policy.collapse_ratio:.0%} of the largest "
        "healthy count)"
        if shrunk
        else None
    )
    for count in counts:
        if count.planned == 0:
            continue
        alarms = [a for a in (collapsed, _over_threshold(count, policy)) if a]
        if alarms:
            noun = f"{count.planned} {NOUNS[count.object_type]} removal(s)"
            held[count.object_type] = f"{noun} held: {'; '.join(alarms)}"
    return held


def _over_threshold(count: TypeCount, policy: Threshold) -> str | None:
    if not policy.enabled:
        return None
    limits = f"the accidental-deletion threshold ({policy.max_count} or {policy.max_percent:g}%)"
    percent = 100.0 * count.planned / count.base if count.base else 100.0
    if count.planned >= policy.min_count and (
        count.planned > policy.max_count or percent > policy.max_percent
    ):
        return f"{count.planned} ({percent:.0f}% of {count.base}) in this cycle exceed {limits}"
    total = count.planned + count.recent
    window_base = count.base + count.recent
    window_percent = 100.0 * total / window_base if window_base else 100.0
    if (
        count.recent
        and total >= policy.min_count
        and (total > policy.max_count or window_percent > policy.max_percent)
    ):
        return (
            f"with {count.recent} applied in the last {policy.window_hours:g} h, {total} "
            f"({window_percent:.0f}% of {window_base}) exceed {limits}"
        )
    return None
