"""Step 3: compare the desired state with the last applied one and write the outbox.

Only the difference is planned, so an unchanged object costs nothing. What the plan would remove
passes the accidental-deletion guard first (a mass removal is staged for approval) and objects in
escrow are held back. Groups are planned after the users' removals are decided, so a user whose
removal is held keeps their memberships. A dry run logs the plan instead of writing it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from provisioning.cycle import baseline
from provisioning.cycle.context import CycleContext
from provisioning.cycle.guards import hold_escrowed, now
from provisioning.cycle.lease import acquire, check_endpoint
from provisioning.cycle.removals import HOLD_CODE, Decision, RemovalGuard
from provisioning.cycle.selection import restrict, selected
from provisioning.cycle.steps.artifacts import (
    DIRECTORY_COUNTS,
    SAMPLE_SIZE,
    load_desired_groups,
    load_desired_users,
    resume,
)
from provisioning.cycle.steps.bulk import collector_paused
from provisioning.engine.desired import DesiredUser
from provisioning.engine.group_plan import plan_groups
from provisioning.engine.plan import (
    DEPROVISIONS,
    MEMBER_ACTIONS,
    LinkState,
    Plan,
    PlannedAction,
)
from provisioning.engine.references import resolve_references
from provisioning.engine.removal_guard import removed_members
from provisioning.engine.user_plan import DeprovisionPolicy, plan_users
from provisioning.engine.vocabulary import Action, LogStatus, ObjectType


@collector_paused
def diff(ctx: CycleContext) -> dict[str, Any]:
    """Desired vs last applied -> the outbox, less escrowed objects, with mass deprovisioning held
    for approval. Counts per action plus sample objects (the XCom)."""
    resume(ctx)
    lease = acquire(ctx)  # before reading the links: the previous run's apply has finished
    check_endpoint(ctx, ctx.connector().endpoint)
    all_links = baseline.links(ctx, ObjectType.USER)
    everyone = load_desired_users(ctx)
    desired = resolve_references(everyone, ctx.users.mappings, all_links)  # managers: anyone linked
    chosen = selected(ctx, ObjectType.USER)
    if chosen is not None:
        desired = [d for d in desired if d.source_id in chosen]
    links = restrict(all_links, chosen)  # on demand: nobody else is planned, so nobody else leaves

    def is_taken(path: str, value: Any) -> bool:
        """Whether the app has an account with this value (SelectUniqueValue)."""
        return bool(ctx.connector().find(ObjectType.USER, path, str(value)))

    deprovision = ctx.config.users.deprovision
    user_skips = ctx.store.skipped_sources(ctx.app, ctx.cycle_id, ObjectType.USER)
    plan = plan_users(
        desired,
        links,
        ctx.users.mappings,
        ctx.users.paths,
        ctx.config.users.actions,
        excluded=user_skips,
        is_taken=is_taken,
        deprovision=DeprovisionPolicy(deprovision.action, deprovision.delete_after_days),
        now=now(),
    )
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.skipped, ObjectType.USER)
    guard = RemovalGuard(ctx, ctx.store.get_artifact(ctx.app, ctx.cycle_id, DIRECTORY_COUNTS), now())
    user_actions, escrowed = hold_escrowed(ctx, plan.actions)
    users = guard.decide(
        user_actions, {ObjectType.USER: sum(link.active is not False for link in all_links.values())}
    )
    actions, staged = users.actions, dict(users.staged)
    summary: dict[str, Any] = {"counts": plan.counts()}
    if ctx.groups is not None and selected(ctx, ObjectType.GROUP) != set():
        group_actions, group_staged, group_escrowed = _diff_groups(
            ctx, guard, plan, users, user_actions, user_skips, all_links, everyone, summary
        )
        actions += group_actions
        staged |= group_staged
        escrowed += group_escrowed
    guard.finish(summary)
    if ctx.options.dry_run:
        ctx.store.add_log_rows(ctx.app, ctx.cycle_id, _dry_run_rows(actions, staged))
    else:
        adopted = ctx.store.write_plan(ctx.app, ctx.cycle_id, actions, staged, lease=lease)
        if adopted:
            summary["adopted_in_flight"] = adopted
    samples: dict[str, list[str]] = defaultdict(list)
    for action in actions:
        key = (
            action.action
            if action.object_type == ObjectType.USER
            else f"{action.object_type}_{action.action}"
        )
        if len(samples[key]) < SAMPLE_SIZE:
            samples[key].append(action.display)
    summary["counts"]["skipped"] = len(ctx.store.skipped_sources(ctx.app, ctx.cycle_id, ObjectType.USER))
    summary.update(samples=dict(samples), escrowed=escrowed, staged=len(staged))
    return summary


def _diff_groups(
    ctx: CycleContext,
    guard: RemovalGuard,
    plan: Plan,
    users: Decision,
    user_actions: list[PlannedAction],
    user_skips: set[str],
    all_links: dict[str, LinkState],
    everyone: list[DesiredUser],
    summary: dict[str, Any],
) -> tuple[list[PlannedAction], dict[str, str], int]:
    """Groups and memberships after the users' removals are decided: (actions, staged, escrowed)."""
    # a user who is skipped, escrowed or whose removal is held keeps their memberships
    untouched = (
        user_skips
        | {s for s, *_ in plan.skipped}
        | guard.held_sources(users)
        | ({a.source_id for a in plan.actions} - {a.source_id for a in user_actions})
    )
    # the users diff already loaded: a second decoded copy held 180 MiB of its peak at 100,000 users
    group_plan = _plan_groups(ctx, everyone, all_links, user_actions, untouched)
    group_actions, escrowed = hold_escrowed(ctx, group_plan.actions)
    # an approved account removal carries its memberships: one approval, not two in a row
    leaving = frozenset(a.source_id for a in users.actions if a.action in DEPROVISIONS and a.approved_by)
    bases = {
        ObjectType.GROUP: len(baseline.links(ctx, ObjectType.GROUP)),
        ObjectType.MEMBERSHIP: sum(len(m) for m in baseline.members(ctx).values()),
    }
    groups = guard.decide(group_actions, bases, leaving)
    summary["groups"] = {
        **Counter(a.action for a in group_plan.actions if a.object_type == ObjectType.GROUP),
        "unchanged": group_plan.unchanged,
        "skipped": len(group_plan.skipped),
    }
    summary["memberships"] = {
        "members_added": sum(
            len(a.payload["members"]) for a in group_plan.actions if a.action == Action.ADD_MEMBERS
        ),
        "members_removed": sum(len(removed_members(a)) for a in group_plan.actions),
        "requests": sum(a.action in MEMBER_ACTIONS for a in group_plan.actions),
    }
    return groups.actions, groups.staged, escrowed


def _dry_run_rows(actions: list[PlannedAction], staged: dict[str, str]) -> list[dict[str, Any]]:
    """What a real run would do, one log row per action, status ``dry_run``."""
    return [
        {
            "object_type": a.object_type,
            "source_id": a.source_id,
            "source_display": a.display,
            "target_id": a.target_id,
            "action": a.action,
            "status": LogStatus.DRY_RUN,
            "modified_properties": a.modified_properties(),
            "detail": a.reason,
            "error_code": HOLD_CODE if a.change_id in staged else None,
            "error_message": staged.get(a.change_id),
            "lifecycle": a.lifecycle,
        }
        for a in actions
    ]


def _plan_groups(
    ctx: CycleContext,
    desired: list[DesiredUser],
    links: dict,
    user_actions: list[PlannedAction],
    untouched: set[str],
):
    """Groups after users: members are the users that will have an active account after apply;
    ``untouched`` users (skipped, escrowed, removal held) keep the memberships they have."""
    creating = {a.source_id for a in user_actions if a.action == Action.CREATE}
    provisioned = {
        d.source_id
        for d in desired
        if d.in_scope
        and not d.error
        and d.source_id not in untouched
        and (d.source_id in links or d.source_id in creating)
    }
    groups = ctx.config.groups
    group_skips = ctx.store.skipped_sources(ctx.app, ctx.cycle_id, ObjectType.GROUP)
    chosen = selected(ctx, ObjectType.GROUP)
    plan = plan_groups(
        [g for g in load_desired_groups(ctx) if chosen is None or g.source_id in chosen],
        restrict(baseline.links(ctx, ObjectType.GROUP), chosen),
        restrict(baseline.members(ctx), chosen),
        provisioned,
        ctx.groups.mappings,
        ctx.groups.paths,
        on_leave_scope=groups.on_leave_scope,
        batch_size=groups.members.batch_size,
        removal=groups.members.removal,
        excluded=group_skips,
        keep=untouched,
    )
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.skipped, ObjectType.GROUP)
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.notes, ObjectType.GROUP, log_only=True)
    return plan
