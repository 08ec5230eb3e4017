"""The accidental-deletion guard as a cycle applies it (docs/lifecycle.md).

Every removal of the plan -- disables, deletes, group deletes, member removals -- is split into
units of access (one account, one group, one member of one group). Units an operator approved
(the held set of the hold they named, still planned now) go out marked with who approved them;
the others are counted per object type against the threshold, the rolling window and the
collapse baseline (engine/removal_guard.py), and a type that trips an alarm is held: its units
are staged, never sent, until approved. A held account keeps its memberships meanwhile: the
diff plans groups only after the user removals are decided.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import InvalidRunOptions
from provisioning.engine.plan import PlannedAction, new_change_id
from provisioning.engine.removal_guard import (
    Collapse,
    Threshold,
    TypeCount,
    collapses,
    held_types,
    removal_keys,
)
from provisioning.engine.vocabulary import Action, ObjectType
from provisioning.state.holds import HeldKey

HOLD_CODE = "AccidentalDeletionThreshold"
# approved_by of member removals that go with their member's approved account removal
FOLLOWS_ACCOUNT = "(with the approved account removal)"


@dataclasses.dataclass
class Decision:
    """The plan after the guard: actions to send, actions staged (change id -> why)."""

    actions: list[PlannedAction]
    staged: dict[str, str]


class RemovalGuard:
    """Built once per diff; ``decide`` is called for the user plan, then for the group plan."""

    def __init__(self, ctx: CycleContext, directory_counts: dict[str, int], now: datetime):
        self.ctx = ctx
        policy = ctx.config.accidental_deletions
        self.policy = Threshold(
            enabled=policy.enabled,
            max_count=policy.max_count,
            max_percent=policy.max_percent,
            min_count=policy.min_count,
            window_hours=policy.window_hours,
            collapse_ratio=policy.collapse_ratio,
        )
        self.now = now
        self.counts = directory_counts
        holds = ctx.store.holds
        last_approval = holds.last_approval(ctx.app)
        since = now - timedelta(days=policy.baseline_days)
        if last_approval and last_approval > since:
            since = last_approval  # an approved shrink is the new normal
        self.baseline = holds.health_baseline(ctx.app, since)
        self.collapsed: list[Collapse] = collapses(directory_counts, self.baseline, policy.collapse_ratio)
        self.recent = holds.recent_removals(ctx.app, now - timedelta(hours=policy.window_hours))
        self.approval = self._approval()
        self.approved: set[HeldKey] = (
            holds.held_as_of(ctx.app, self.approval["held_at"]) if self.approval else set()
        )
        self.used_approval: set[HeldKey] = set()
        self.held_keys: set[HeldKey] = set()
        self.held = Counter()
        self.reasons: dict[str, str] = {}

    def _approval(self) -> dict[str, Any] | None:
        options = self.ctx.options
        if not options.approves:
            return None
        hold = self.ctx.store.holds.hold(self.ctx.app, options.approve)
        if hold is None and options.approve:
            raise InvalidRunOptions(
                f"approve: no cycle {options.approve!r} of {self.ctx.app} held removals for approval "
                "(the hold's cycle id is in the alert and on the Provisioning page)"
            )
        return hold

    @property
    def who(self) -> str:
        return self.ctx.options.triggered_by or "unknown"

    def decide(
        self, actions: list[PlannedAction], bases: dict[str, int], leaving: frozenset[str] = frozenset()
    ) -> Decision:
        """``bases``: object type -> how many objects its removals come out of (percent base).
        ``leaving``: users whose disable or delete an operator approved in this run: taking them
        out of their groups is part of that approved removal."""
        follows = {key for action in actions for key in removal_keys(action) if key[3] and key[3] in leaving}
        fresh = Counter(
            key[0]
            for action in actions
            for key in removal_keys(action)
            if key not in self.approved and key not in follows
        )
        counts = [TypeCount(t, n, self.recent.get(t, 0), bases.get(t, 0)) for t, n in fresh.items()]
        reasons = held_types(counts, self.collapsed, self.policy)
        kept: list[PlannedAction] = []
        staged: dict[str, str] = {}
        held: Counter = Counter()
        for action in actions:
            keys = removal_keys(action)
            if not keys:
                kept.append(action)
                continue
            approved = {k for k in keys if k in self.approved}
            going = approved | {k for k in keys if k in follows}
            holding = {k for k in keys if k not in going and action.object_type in reasons}
            self.used_approval.update(approved)
            self.held_keys.update(holding)
            if holding:  # a zero count would read as a hold: an alert, and no healthy baseline
                held[action.object_type] += len(holding)
            for part, status in _split(action, going, holding):
                if status == "approved":
                    self._note_approval(part, approved)
                if status == "held":
                    staged[part.change_id] = reasons[action.object_type]
                kept.append(part)
        self.held.update(held)
        self.reasons.update(reasons)
        return Decision(kept, staged)

    def _note_approval(self, part: PlannedAction, approved: set[HeldKey]) -> None:
        """Say who approved the part, or that it goes with its member's account removal; either
        way it does not count again in the rolling window."""
        if any(key in approved for key in removal_keys(part)):
            part.approved_by = self.who
            note = f"approved by {self.who} (held by cycle {self.approval['cycle_id']})"
        else:
            part.approved_by = FOLLOWS_ACCOUNT
            note = "approved with the removal of the members' accounts"
        part.reason = f"{part.reason}; {note}" if part.reason else note

    def held_sources(self, decision: Decision) -> set[str]:
        """Users whose removal is held: they keep their group memberships meanwhile."""
        return {a.source_id for a in decision.actions if a.change_id in decision.staged}

    def finish(self, summary: dict[str, Any]) -> None:
        """Store what was held and approved, move the baseline if the cycle was healthy, alert."""
        ctx, options = self.ctx, self.ctx.options
        if self.held:
            reason = "; ".join(self.reasons.values())
            summary["held"] = dict(self.held)
            summary["held_reason"] = reason
            summary["held_by_cycle"] = ctx.cycle_id
        if options.approves:
            summary["approval"] = self._approval_note()
        if options.dry_run:
            return
        holds = ctx.store.holds
        if not options.on_demand:  # an on-demand run plans a few objects: the held set stays
            holds.sync(ctx.app, ctx.cycle_id, self.held_keys, summary.get("held_reason"), dict(self.held))
        if self.approval and self.used_approval:
            holds.approve(ctx.app, self.approval["cycle_id"], self.who, ctx.cycle_id)
        if options.approves:
            ctx.store.add_alert(ctx.app, ctx.cycle_id, "deletions_approved", summary["approval"])
        if self.held:
            ctx.store.add_alert(
                ctx.app,
                ctx.cycle_id,
                "deletions_staged",
                f"cycle {ctx.cycle_id} held {summary['held_reason']}. "
                f"To approve exactly this set, trigger with approve={ctx.cycle_id} "
                "(allow_deletions=true approves the latest held set)",
            )
        elif not options.on_demand:
            holds.add_health(ctx.app, ctx.cycle_id, self.counts)
            holds.prune_health(
                ctx.app, self.now - timedelta(days=2 * ctx.config.accidental_deletions.baseline_days)
            )

    def _approval_note(self) -> str:
        if self.approval is None:
            return f"approval by {self.who}: nothing is held for approval, so nothing was approved"
        if not self.used_approval:
            return (
                f"approval by {self.who} of the set held by cycle {self.approval['cycle_id']}: none of "
                "it is still planned (the directory changed back), so nothing was approved"
            )
        return (
            f"approved by {self.who}: {_describe(Counter(k[0] for k in self.used_approval))} held by "
            f"cycle {self.approval['cycle_id']} ({self.approval['reason']})"
        )


def _describe(counts: Counter) -> str:
    nouns = {ObjectType.USER: "account", ObjectType.GROUP: "group", ObjectType.MEMBERSHIP: "membership"}
    return ", ".join(f"{n} {nouns.get(t, t)} removal(s)" for t, n in sorted(counts.items()))


def _split(
    action: PlannedAction, approved: set[HeldKey], holding: set[HeldKey]
) -> list[tuple[PlannedAction, str]]:
    """The action cut by its units: (part, 'approved' | 'fresh' | 'held'). Accounts and groups
    are one unit; a member batch is cut member by member. A member replace stays one request
    that keeps its held members in the group, plus a staged removal that shows them."""
    keys = removal_keys(action)
    if action.object_type != ObjectType.MEMBERSHIP:
        status = "approved" if keys[0] in approved else "held" if keys[0] in holding else "fresh"
        return [(action, status)]
    member = {k[3]: k for k in keys}
    if action.action == Action.REPLACE_MEMBERS:
        kept_back = [m for m in action.payload["removed"] if member[m] in holding]
        if not kept_back and all(member[m] in approved for m in action.payload["removed"]):
            return [(action, "approved")]
        parts = [
            (
                _with(
                    action,
                    members=[*action.payload["members"], *kept_back],
                    removed=[m for m in action.payload["removed"] if m not in kept_back],
                ),
                "fresh",
            )
        ]
        if kept_back:
            parts.append((_with(action, Action.REMOVE_MEMBERS, members=[[m, ""] for m in kept_back]), "held"))
        return parts
    groups: dict[str, list] = {"approved": [], "held": [], "fresh": []}
    for pair in action.payload["members"]:
        key = member[pair[0]]
        groups["approved" if key in approved else "held" if key in holding else "fresh"].append(pair)
    if sum(bool(v) for v in groups.values()) == 1:
        return [(action, next(s for s, v in groups.items() if v))]
    return [(_with(action, members=pairs), status) for status, pairs in groups.items() if pairs]


def _with(action: PlannedAction, name: str | None = None, **payload: Any) -> PlannedAction:
    """A part of a membership action, with its own change id, payload and counts."""
    name = name or action.action
    body = (
        {**action.payload, **payload}
        if name == action.action
        else {"style": action.payload.get("style"), **payload}
    )
    modified = (
        [{"path": "members", "old": len(body["members"]), "new": 0}]
        if name == Action.REMOVE_MEMBERS
        else action.modified
    )
    return dataclasses.replace(
        action, action=name, payload=body, modified=modified, change_id=new_change_id()
    )
