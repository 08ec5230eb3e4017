"""The five steps of a cycle. Each is safe to rerun: it recomputes from the state store."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from provisioning.connectors.base import AppConnector
from provisioning.connectors.directory.reader import DirectoryError
from provisioning.cycle import baseline
from provisioning.cycle.context import CycleContext, ObjectRules
from provisioning.cycle.executors import AppIds, execute
from provisioning.cycle.guards import check_quarantine, hold_escrowed, now, update_quarantine
from provisioning.cycle.lease import acquire, check_endpoint, release
from provisioning.cycle.lookup import USERNAME_RULE, find_each
from provisioning.cycle.preview import preview, render
from provisioning.cycle.reconcile import reconcile
from provisioning.cycle.removals import HOLD_CODE, Decision, RemovalGuard
from provisioning.cycle.selection import SelectionError, restrict, save_selection, selected
from provisioning.engine.desired import DesiredUser, desired_users
from provisioning.engine.desired_groups import DesiredGroup, desired_groups
from provisioning.engine.group_plan import plan_groups
from provisioning.engine.matching import (
    NO_MATCHING_VALUE,
    Conflict,
    is_active,
    match_accounts,
    snapshot_of,
    source_conflicts,
)
from provisioning.engine.outbox import Outcome
from provisioning.engine.plan import (
    ADD_MEMBERS,
    CREATE,
    DEPROVISIONS,
    GROUP,
    MEMBER_ACTIONS,
    MEMBERSHIP,
    USER,
    DeprovisionPolicy,
    LinkState,
    Plan,
    PlannedAction,
    plan_users,
)
from provisioning.engine.references import resolve_references
from provisioning.engine.removal_guard import removed_members
from provisioning.engine.validation import validate_users
from provisioning.state.bounds import INVALID_APP_ID, app_id_problem
from provisioning.state.leases import Lease

# Above this many unlinked objects, one paged listing of the app beats a filter query per object.
LIST_ALL_THRESHOLD = 25
SAMPLE_SIZE = 5
# Outcomes written to the state store per transaction during apply.
WRITE_BATCH = 200
DIRECTORY_COUNTS = "directory_counts"  # what the collapse guard compares with healthy cycles


def extract_assignments(ctx: CycleContext) -> dict[str, Any]:
    """Read the directory, resolve assignment and map attributes -> the cycle's desired state."""
    ctx.store.start_cycle(ctx.app, ctx.cycle_id)
    check_quarantine(ctx)
    snapshot = ctx.open_directory().read(
        ctx.config.directory.extra_user_attributes, ctx.config.directory.extra_group_attributes
    )
    linked = ctx.store.count_links(ctx.app)
    if snapshot.users.empty and linked:
        raise DirectoryError(
            f"the directory returned no users while {linked} accounts are linked in {ctx.app}: refusing "
            "to treat everyone as gone (check the directory connection and its users relation)"
        )
    desired = desired_users(
        ctx.app,
        ctx.config.users.scope,
        snapshot.users,
        snapshot.assignments,
        snapshot.memberships,
        ctx.users.mappings,
        ctx.users.filters,
        dict(zip(snapshot.groups["id"], snapshot.groups["displayName"], strict=True)),
    )
    desired = validate_users(desired, ctx.users.paths, ctx.users.mappings, snapshot.users)
    size = ctx.store.put_artifact(ctx.app, ctx.cycle_id, "desired_users", [d.to_record() for d in desired])
    in_scope = sum(d.in_scope for d in desired)
    counts = {
        "users": len(snapshot.users),
        "in-scope users": in_scope,
        "assignments": int((snapshot.assignments["app"] == ctx.app).sum()),
        "group memberships": len(snapshot.memberships),
    }
    ctx.store.put_artifact(ctx.app, ctx.cycle_id, DIRECTORY_COUNTS, counts)
    summary: dict[str, Any] = {
        "directory_users": len(desired),
        "in_scope": in_scope,
        "out_of_scope": len(desired) - in_scope,
        "desired_state_bytes": size,
    }
    groups: list[DesiredGroup] = []
    if ctx.groups is not None:
        groups = desired_groups(
            ctx.app,
            ctx.config.groups.scope,
            snapshot.groups,
            snapshot.assignments,
            snapshot.memberships,
            ctx.groups.mappings,
            ctx.groups.filters,
        )
        ctx.store.put_artifact(ctx.app, ctx.cycle_id, "desired_groups", [g.to_record() for g in groups])
        summary["groups_in_scope"] = sum(g.in_scope for g in groups)
    if ctx.options.on_demand:
        summary["on_demand"] = _select(ctx, desired, groups)
    return summary


def _select(ctx: CycleContext, users: list[DesiredUser], groups: list[DesiredGroup]) -> dict[str, list[str]]:
    """Resolve the on-demand names and log, per user, the steps of a provisioning preview."""
    if ctx.options.groups and ctx.groups is None:
        raise SelectionError(
            f"provision on demand: {ctx.app} does not provision groups (its config has no groups: section)"
        )
    selection = save_selection(ctx, users, groups)
    trace = []
    for source_id in selection[USER]:
        report = preview(ctx, source_id)
        trace.append(
            {
                "object_type": USER,
                "source_id": source_id,
                "source_display": report["user"]["userPrincipalName"],
                "target_id": report["matching"].get("target_id"),
                "action": "on_demand",
                "status": "info",
                "modified_properties": report["attributes"],
                "detail": render(report),
            }
        )
    ctx.store.add_log_rows(ctx.app, ctx.cycle_id, trace)
    names = {u.source_id: u.display for u in users} | {g.source_id: g.display for g in groups}
    return {kind: [names[s] for s in ids] for kind, ids in selection.items()}


def _resume(ctx: CycleContext) -> None:
    """A step runs only after the steps before it succeeded, so an error recorded on the cycle came
    from this step or a later one in an earlier attempt: a rerun (a cleared task) starts clean."""
    ctx.store.start_cycle(ctx.app, ctx.cycle_id)


def _desired(ctx: CycleContext) -> list[DesiredUser]:
    return [DesiredUser(**r) for r in ctx.store.get_artifact(ctx.app, ctx.cycle_id, "desired_users")]


def _desired_groups(ctx: CycleContext) -> list[DesiredGroup]:
    return [DesiredGroup(**r) for r in ctx.store.get_artifact(ctx.app, ctx.cycle_id, "desired_groups")]


def match(ctx: CycleContext) -> dict[str, Any]:
    """Link in-scope objects without a link to existing app objects; log conflicts, never guess."""
    _resume(ctx)
    acquire(ctx)
    if ctx.options.relinks_endpoint and not ctx.options.dry_run:
        _relink(ctx)
    check_endpoint(ctx, ctx.connector().endpoint)
    app = ctx.connector
    summary = _match(ctx, USER, ctx.users, _desired(ctx), app)
    if ctx.groups is not None and selected(ctx, GROUP) != set():
        summary["groups"] = _match(ctx, GROUP, ctx.groups, _desired_groups(ctx), app)
    return summary


def _relink(ctx: CycleContext) -> None:
    """restart=relink: the links of the old endpoint retire, those once made here come back (the
    full reconcile of this run verifies them), everything else is matched again here."""
    endpoint = ctx.connector().endpoint
    retired, restored = ctx.store.relink(ctx.app, endpoint)
    ctx.store.add_alert(
        ctx.app,
        ctx.cycle_id,
        "restart",
        f"relinked to {endpoint} by {ctx.options.triggered_by or 'unknown'}: {retired} link(s) retired, "
        f"{restored} made there before restored; every other object is matched again there",
    )


def _match(
    ctx: CycleContext, kind: str, rules: ObjectRules, everyone: list[DesiredUser] | list[DesiredGroup], app
) -> dict[str, Any]:
    chosen = selected(ctx, kind)
    desired = [
        (d.source_id, d.display, d.attributes)
        for d in everyone
        if d.in_scope and not d.error and (chosen is None or d.source_id in chosen)
    ]  # diff logs the mapping errors
    listing: list[dict] | None = None
    reconciled = None
    if ctx.options.reads_app:
        listing = list(app().list_resources(kind))
        known = {d.source_id: (d.display, d.attributes) for d in everyone if not d.error}
        reconciled = reconcile(ctx, kind, rules, app(), listing, known, chosen)
    links = baseline.links(ctx, kind)
    candidates = [(s, attrs) for s, _, attrs in desired if s not in links]
    linked = [(s, attrs) for s, _, attrs in desired if s in links]
    display = {s: d for s, d, _ in desired}
    conflicts = source_conflicts(candidates, linked, rules.rules)
    if kind == USER and not any(r.path.text.lower() == "username" for r in rules.rules):
        # the app enforces unique userNames even when they are not a matching attribute
        conflicts += [
            c for c in source_conflicts(candidates, linked, [USERNAME_RULE]) if c.code != NO_MATCHING_VALUE
        ]
    conflicted = {c.source_id for c in conflicts}
    candidates = [c for c in candidates if c[0] not in conflicted]
    matches = []
    lookup = "none"
    if candidates:
        if listing is not None:
            lookup = "list"
            found = listing
        elif len(candidates) > LIST_ALL_THRESHOLD:
            lookup = "list"
            excluded = ["members"] if kind == GROUP else None
            found = list(app().list_resources(kind, excluded=excluded))
        else:
            lookup = "filter"
            found, failed = find_each(
                ctx, app(), kind, rules.rules, [(s, display[s], attrs) for s, attrs in candidates]
            )
            conflicts += failed
            conflicted |= {f.source_id for f in failed}
            candidates = [c for c in candidates if c[0] not in conflicted]
        owners = {link.target_id: source for source, link in links.items()}
        matches, more = match_accounts(candidates, found, rules.rules, owners)
        refused = {m.source_id: p for m in matches if (p := app_id_problem(m.account["id"]))}
        conflicts += more + [Conflict(s, INVALID_APP_ID, p) for s, p in refused.items()]
        matches = [m for m in matches if m.source_id not in refused]
        baseline.save_links(
            ctx,
            kind,
            [
                {
                    "source_id": m.source_id,
                    "target_id": m.account["id"],
                    "matched_by": m.matched_by,
                    "attributes": snapshot_of(m.account, rules.paths.values()),
                    "active": is_active(m.account),
                }
                for m in matches
            ],
        )
    ctx.store.record_skips(
        ctx.app,
        ctx.cycle_id,
        [(c.source_id, display[c.source_id], c.code, c.message) for c in conflicts],
        kind,
    )
    summary = {
        "unlinked": len(candidates) + len(conflicted),
        "matched": len(matches),
        "conflicts": len({c.source_id for c in conflicts}),
        "lookup": lookup,
        "sample_matched": [display[m.source_id] for m in matches[:SAMPLE_SIZE]],
    }
    if reconciled is not None:
        summary["reconcile"] = reconciled
    return summary


def diff(ctx: CycleContext) -> dict[str, Any]:
    """Desired vs last applied -> the outbox, less escrowed objects, with mass deprovisioning held
    for approval. Counts per action plus sample objects (the XCom)."""
    _resume(ctx)
    lease = acquire(ctx)  # before reading the links: the previous run's apply has finished
    check_endpoint(ctx, ctx.connector().endpoint)
    all_links = baseline.links(ctx, USER)
    everyone = _desired(ctx)
    desired = resolve_references(everyone, ctx.users.mappings, all_links)  # managers: anyone linked
    chosen = selected(ctx, USER)
    if chosen is not None:
        desired = [d for d in desired if d.source_id in chosen]
    links = restrict(all_links, chosen)  # on demand: nobody else is planned, so nobody else leaves

    def is_taken(path: str, value: Any) -> bool:
        """Whether the app has an account with this value (SelectUniqueValue)."""
        return bool(ctx.connector().find_resources(USER, ctx.users.paths[path].filter_name, str(value)))

    deprovision = ctx.config.users.deprovision
    user_skips = ctx.store.skipped_sources(ctx.app, ctx.cycle_id, USER)
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
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.skipped, USER)
    guard = RemovalGuard(ctx, ctx.store.get_artifact(ctx.app, ctx.cycle_id, DIRECTORY_COUNTS), now())
    user_actions, escrowed = hold_escrowed(ctx, plan.actions)
    users = guard.decide(user_actions, {USER: sum(link.active is not False for link in all_links.values())})
    actions, staged = users.actions, dict(users.staged)
    summary: dict[str, Any] = {"counts": plan.counts()}
    if ctx.groups is not None and selected(ctx, GROUP) != set():
        group_actions, group_staged, group_escrowed = _diff_groups(
            ctx, guard, plan, users, user_actions, user_skips, all_links, summary
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
        key = action.action if action.object_type == USER else f"{action.object_type}_{action.action}"
        if len(samples[key]) < SAMPLE_SIZE:
            samples[key].append(action.display)
    summary["counts"]["skipped"] = len(ctx.store.skipped_sources(ctx.app, ctx.cycle_id, USER))
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
    group_plan = _plan_groups(ctx, _desired(ctx), all_links, user_actions, untouched)
    group_actions, escrowed = hold_escrowed(ctx, group_plan.actions)
    # an approved account removal carries its memberships: one approval, not two in a row
    leaving = frozenset(a.source_id for a in users.actions if a.action in DEPROVISIONS and a.approved_by)
    bases = {
        GROUP: len(baseline.links(ctx, GROUP)),
        MEMBERSHIP: sum(len(m) for m in baseline.members(ctx).values()),
    }
    groups = guard.decide(group_actions, bases, leaving)
    summary["groups"] = {
        **Counter(a.action for a in group_plan.actions if a.object_type == GROUP),
        "unchanged": group_plan.unchanged,
        "skipped": len(group_plan.skipped),
    }
    summary["memberships"] = {
        "members_added": sum(
            len(a.payload["members"]) for a in group_plan.actions if a.action == ADD_MEMBERS
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
            "status": "dry_run",
            "modified_properties": a.modified,
            "detail": a.reason,
            "error_code": HOLD_CODE if a.change_id in staged else None,
            "error_message": staged.get(a.change_id),
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
    creating = {a.source_id for a in user_actions if a.action == CREATE}
    provisioned = {
        d.source_id
        for d in desired
        if d.in_scope
        and not d.error
        and d.source_id not in untouched
        and (d.source_id in links or d.source_id in creating)
    }
    groups = ctx.config.groups
    group_skips = ctx.store.skipped_sources(ctx.app, ctx.cycle_id, GROUP)
    chosen = selected(ctx, GROUP)
    plan = plan_groups(
        [g for g in _desired_groups(ctx) if chosen is None or g.source_id in chosen],
        restrict(baseline.links(ctx, GROUP), chosen),
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
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.skipped, GROUP)
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.notes, GROUP, log_only=True)
    return plan


def apply(ctx: CycleContext) -> dict[str, Any]:
    """Execute the outbox phase by phase (users, groups, memberships) with bounded concurrency;
    resume-safe after a crash or a rerun.

    A sliding window keeps ``max_concurrency`` requests in flight while finished ones are written
    to the state store. Each action is marked in_flight before its request can go out, so a crash
    leaves a trail the next attempt verifies instead of blindly repeating a create.
    """
    _resume(ctx)
    if ctx.options.dry_run:
        return {"attempted": 0, "succeeded": 0, "failed": 0, "dry_run": True}
    lease = acquire(ctx)  # a retried attempt takes over: the stale one's writes are refused
    rows = ctx.store.open_actions(ctx.app, ctx.cycle_id)
    if not rows:
        release(ctx)
        return {"attempted": 0, "succeeded": 0, "failed": 0}
    app = ctx.connector()
    check_endpoint(ctx, app.endpoint)
    counts: dict[str, int] = defaultdict(int)
    stopped: str | None = None
    for object_type in (USER, GROUP, MEMBERSHIP):
        phase = [r for r in rows if r.object_type == object_type]
        if phase and stopped is None:
            ids = AppIds.load(ctx) if object_type == MEMBERSHIP else AppIds()
            stopped = _run_phase(ctx, app, phase, ids, counts, lease)
    release(ctx)
    summary = {"attempted": len(rows), "succeeded": counts["succeeded"], "failed": counts["failed"]}
    throttled = getattr(getattr(app, "throttle", None), "throttled", 0)
    if throttled:
        summary["throttled"] = throttled
    if stopped is not None:
        ctx.store.record_cycle_error(ctx.app, ctx.cycle_id, "app_refused", stopped)
        summary["stopped"] = stopped
        summary["not_attempted"] = len(rows) - counts["succeeded"] - counts["failed"]
    return summary


def _run_phase(
    ctx: CycleContext, app: AppConnector, rows: list, ids: AppIds, counts: dict[str, int], lease: Lease
) -> str | None:
    workers = ctx.config.target.max_concurrency
    by_id = {r.change_id: r for r in rows}
    queue = iter(rows)
    stopped: str | None = None
    done: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"apply-{ctx.app}") as pool:
        running: set[Future] = set()

        def refill() -> None:
            chunk = list(itertools.islice(queue, workers * 4 - len(running)))
            ctx.store.mark_in_flight([r.change_id for r in chunk if r.status == "pending"], lease)
            running.update(pool.submit(execute, ctx, app, row, ids) for row in chunk)

        refill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            running -= finished
            for future in finished:
                outcome = future.result()
                done.append(outcome)
                counts[outcome.status] += 1
                if outcome.stops_cycle and stopped is None:
                    stopped = outcome.error_message
            if len(done) >= WRITE_BATCH or not running:
                ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done, lease, app.endpoint)
                done = []
            if stopped is None:
                refill()
    ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done, lease, app.endpoint)
    return stopped


def report(ctx: CycleContext) -> dict[str, Any]:
    """Summarise the cycle, decide quarantine, raise alerts; say whether the cycle failed."""
    if ctx.options.dry_run:
        return _dry_run_report(ctx)
    release(ctx)  # whatever happened before: the next run need not wait for the lease to expire
    counts = ctx.store.outbox_counts(ctx.app, ctx.cycle_id)
    per_type: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for (object_type, action, status), n in counts.items():
        per_type[object_type][action][status] = n
    by_status = Counter()
    for (_, _, status), n in counts.items():
        by_status[status] += n
    failed, succeeded, staged = by_status["failed"], by_status["succeeded"], by_status["staged"]
    pending = by_status["pending"] + by_status["in_flight"]
    cycle = ctx.store.cycle(ctx.app, ctx.cycle_id) or {}
    quarantine = update_quarantine(ctx, succeeded + failed, failed, cycle)
    if cycle.get("error") or failed or pending:
        status = "failed"
    elif staged:
        status = "staged"
    else:
        status = "succeeded"
    summary = {
        "app": ctx.app,
        "cycle_id": ctx.cycle_id,
        "status": status,
        "actions": {kind: {a: dict(v) for a, v in actions.items()} for kind, actions in per_type.items()},
        "failed": failed,
        "not_applied": pending,
        "staged": staged,
        "in_escrow": len(ctx.store.escrow(ctx.app)),
        "quarantine": quarantine,
        "alerts": [f"{a['kind']}: {a['message']}" for a in ctx.store.alerts(ctx.app, ctx.cycle_id)],
    }
    if cycle.get("error"):
        summary["error"] = cycle["error"]
    pruned = ctx.store.prune_log(ctx.app, ctx.config.log_retention_days)
    if pruned:
        summary["pruned_log_rows"] = pruned
    ctx.store.finish_cycle(ctx.app, ctx.cycle_id, status, summary)
    return summary


def _dry_run_report(ctx: CycleContext) -> dict[str, Any]:
    """What the cycle would have done; a dry run changes no quarantine, escrow or alert."""
    would: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    held = skipped = 0
    for row in ctx.store.log(ctx.app, ctx.cycle_id):
        if row["status"] == "dry_run":
            would[row["object_type"]][row["action"]] += 1
            held += row["error_code"] == "AccidentalDeletionThreshold"
        elif row["status"] == "skipped" and row["action"] == "skip":
            skipped += 1
    cycle = ctx.store.cycle(ctx.app, ctx.cycle_id) or {}
    summary = {
        "app": ctx.app,
        "cycle_id": ctx.cycle_id,
        "status": "failed" if cycle.get("error") else "dry_run",
        "dry_run": True,
        "would": {kind: dict(actions) for kind, actions in would.items()},
        "would_be_staged": held,
        "skipped": skipped,
        "failed": 0,
        "not_applied": 0,
        "staged": 0,
        "alerts": [],
    }
    if cycle.get("error"):
        summary["error"] = cycle["error"]
    ctx.store.finish_cycle(ctx.app, ctx.cycle_id, summary["status"], summary)
    return summary
