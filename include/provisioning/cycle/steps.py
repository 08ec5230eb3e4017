"""The five steps of a cycle. Each is safe to rerun: it recomputes from the state store."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from provisioning.connectors.base import AppConnector
from provisioning.connectors.scim.errors import (
    ScimConflictError,
    ScimError,
    ScimNotFoundError,
    ScimTransientError,
)
from provisioning.cycle.context import CycleContext
from provisioning.engine.desired import DesiredUser, desired_users
from provisioning.engine.matching import is_active, match_accounts, snapshot_of, source_conflicts
from provisioning.engine.plan import ACTIONS, CREATE, DISABLE, PATCH_SCHEMA, plan_users
from provisioning.engine.references import resolve_references
from provisioning.engine.scim_path import patch_operations
from provisioning.state.store import OutboxRow, Outcome

# Above this many unlinked users, one paged listing of the app beats a filter query per user.
LIST_ALL_THRESHOLD = 25
SAMPLE_SIZE = 5
# Outcomes written to the state store per transaction during apply.
WRITE_BATCH = 200


def extract_assignments(ctx: CycleContext) -> dict[str, Any]:
    """Read the directory, resolve assignment and map attributes -> the cycle's desired state."""
    ctx.store.start_cycle(ctx.app, ctx.cycle_id)
    snapshot = ctx.open_directory().read(ctx.config.directory.extra_user_attributes)
    desired = desired_users(
        ctx.app,
        ctx.config.users.scope,
        snapshot.users,
        snapshot.assignments,
        snapshot.memberships,
        ctx.mappings,
        ctx.filters,
        dict(zip(snapshot.groups["id"], snapshot.groups["displayName"], strict=True)),
    )
    size = ctx.store.put_artifact(ctx.app, ctx.cycle_id, "desired_users", [d.to_record() for d in desired])
    in_scope = sum(d.in_scope for d in desired)
    return {
        "directory_users": len(desired),
        "in_scope": in_scope,
        "out_of_scope": len(desired) - in_scope,
        "desired_state_bytes": size,
    }


def _desired(ctx: CycleContext) -> list[DesiredUser]:
    return [DesiredUser(**r) for r in ctx.store.get_artifact(ctx.app, ctx.cycle_id, "desired_users")]


def match(ctx: CycleContext) -> dict[str, Any]:
    """Link in-scope users without a link to existing app accounts; log conflicts, never guess."""
    desired = [d for d in _desired(ctx) if d.in_scope and not d.error]  # diff logs the mapping errors
    links = ctx.store.links(ctx.app)
    candidates = [(d.source_id, d.attributes) for d in desired if d.source_id not in links]
    linked = [(d.source_id, d.attributes) for d in desired if d.source_id in links]
    display = {d.source_id: d.display for d in desired}
    conflicts = source_conflicts(candidates, linked, ctx.rules)
    conflicted = {c.source_id for c in conflicts}
    candidates = [c for c in candidates if c[0] not in conflicted]
    matches = []
    lookup = "none"
    if candidates:
        app = ctx.open_app()
        if len(candidates) > LIST_ALL_THRESHOLD:
            lookup = "list"
            accounts = list(app.list_users())
        else:
            lookup = "filter"
            accounts = _find_accounts(app, ctx, [attrs for _, attrs in candidates])
        owners = {link.target_id: source for source, link in links.items()}
        matches, more = match_accounts(candidates, accounts, ctx.rules, owners)
        conflicts += more
        ctx.store.upsert_links(
            ctx.app,
            [
                {
                    "source_id": m.source_id,
                    "target_id": m.account["id"],
                    "matched_by": m.matched_by,
                    "attributes": snapshot_of(m.account, ctx.paths.values()),
                    "active": is_active(m.account),
                }
                for m in matches
            ],
        )
    ctx.store.record_skips(
        ctx.app, ctx.cycle_id, [(c.source_id, display[c.source_id], c.code, c.message) for c in conflicts]
    )
    return {
        "unlinked": len(candidates) + len(conflicted),
        "matched": len(matches),
        "conflicts": len(conflicts),
        "lookup": lookup,
        "sample_matched": [display[m.source_id] for m in matches[:SAMPLE_SIZE]],
    }


def _find_accounts(app: AppConnector, ctx: CycleContext, attribute_sets: list[dict[str, Any]]) -> list[dict]:
    """Filter queries for each user's matching values; the engine then applies the exact path rules."""
    found: dict[str, dict] = {}
    for attrs in attribute_sets:
        for rule in ctx.rules:
            value = attrs.get(rule.path.text)
            if value not in (None, ""):
                for account in app.find_users(rule.path.filter_name, str(value)):
                    found[account["id"]] = account
    return list(found.values())


def diff(ctx: CycleContext) -> dict[str, Any]:
    """Desired vs last applied -> the outbox. Counts per action plus sample users (the XCom)."""
    links = ctx.store.links(ctx.app)
    desired = resolve_references(_desired(ctx), ctx.mappings, links)
    apps: list[AppConnector] = []

    def is_taken(path: str, value: Any) -> bool:
        """Whether the app has an account with this value (SelectUniqueValue); opened on first use."""
        if not apps:
            apps.append(ctx.open_app())
        return bool(apps[0].find_users(ctx.paths[path].filter_name, str(value)))

    plan = plan_users(
        desired,
        links,
        ctx.mappings,
        ctx.paths,
        ctx.config.users.actions,
        excluded=ctx.store.skipped_sources(ctx.app, ctx.cycle_id),
        is_taken=is_taken,
    )
    ctx.store.write_plan(ctx.app, ctx.cycle_id, plan.actions)
    ctx.store.record_skips(ctx.app, ctx.cycle_id, plan.skipped)
    samples: dict[str, list[str]] = defaultdict(list)
    for action in plan.actions:
        if len(samples[action.action]) < SAMPLE_SIZE:
            samples[action.action].append(action.display)
    counts = plan.counts()
    counts["skipped"] = len(ctx.store.skipped_sources(ctx.app, ctx.cycle_id))
    return {"counts": counts, "samples": dict(samples)}


def apply(ctx: CycleContext) -> dict[str, Any]:
    """Execute the outbox with bounded concurrency; resume-safe after a crash or a rerun.

    A sliding window keeps ``max_concurrency`` requests in flight while finished ones are written
    to the state store. Each action is marked in_flight before its request can go out, so a crash
    leaves a trail the next attempt verifies instead of blindly repeating a create.
    """
    rows = ctx.store.open_actions(ctx.app, ctx.cycle_id)
    if not rows:
        return {"attempted": 0, "succeeded": 0, "failed": 0}
    app = ctx.open_app()
    workers = ctx.config.target.max_concurrency
    by_id = {r.change_id: r for r in rows}
    queue = iter(rows)
    counts: dict[str, int] = defaultdict(int)
    stopped: str | None = None
    done: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"apply-{ctx.app}") as pool:
        running: set[Future] = set()

        def refill() -> None:
            chunk = list(itertools.islice(queue, workers * 4 - len(running)))
            ctx.store.mark_in_flight([r.change_id for r in chunk if r.status == "pending"])
            running.update(pool.submit(_execute, ctx, app, row) for row in chunk)

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
                ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done)
                done = []
            if stopped is None:
                refill()
    ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done)
    summary = {"attempted": len(rows), "succeeded": counts["succeeded"], "failed": counts["failed"]}
    if stopped is not None:
        summary["stopped"] = stopped
        summary["not_attempted"] = len(rows) - counts["succeeded"] - counts["failed"]
    return summary


def _execute(ctx: CycleContext, app: AppConnector, row: OutboxRow) -> Outcome:
    started = time.monotonic()
    try:
        outcome = _create(ctx, app, row) if row.action == CREATE else _patch(app, row)
    except ScimError as exc:
        outcome = Outcome(
            row.change_id, "failed", error_code=exc.code, error_message=str(exc), stops_cycle=exc.stops_cycle
        )
    return dataclasses.replace(outcome, duration_ms=round((time.monotonic() - started) * 1000, 1))


def _patch(app: AppConnector, row: OutboxRow) -> Outcome:
    try:
        app.patch_user(row.target_id, row.payload)
    except ScimNotFoundError:
        if row.action != DISABLE:
            raise
        return Outcome(
            row.change_id, "succeeded", detail="account no longer exists in the app; nothing to disable"
        )
    return Outcome(row.change_id, "succeeded")


def _create(ctx: CycleContext, app: AppConnector, row: OutboxRow) -> Outcome:
    if row.status == "in_flight":
        # A previous attempt may have created it before dying: look before creating again.
        existing = _lookup(ctx, app, row)
        if existing is not None:
            return _adopt(
                ctx, app, row, existing, "created by an interrupted earlier attempt; found and linked"
            )
    try:
        created = app.create_user(row.payload)
    except ScimConflictError:
        existing = _lookup(ctx, app, row)
        if existing is None:
            raise
        return _adopt(ctx, app, row, existing, "account already existed (409); matched and linked")
    except ScimTransientError as exc:
        # Timeout, dropped connection or 5xx after the app may have acted: look, then try once more.
        existing = _lookup(ctx, app, row)
        if existing is not None:
            return _adopt(
                ctx, app, row, existing, f"created although the request failed ({exc.code}); linked"
            )
        created = app.create_user(row.payload)
    return Outcome(row.change_id, "succeeded", target_id=created["id"], matched_by="created")


def _lookup(ctx: CycleContext, app: AppConnector, row: OutboxRow) -> tuple[dict, str] | None:
    links = ctx.store.links(ctx.app)
    owners = {link.target_id: source for source, link in links.items() if source != row.source_id}
    accounts = _find_accounts(app, ctx, [row.attributes])
    matches, _ = match_accounts([(row.source_id, row.attributes)], accounts, ctx.rules, owners)
    return (matches[0].account, matches[0].matched_by) if matches else None


def _adopt(
    ctx: CycleContext, app: AppConnector, row: OutboxRow, found: tuple[dict, str], note: str
) -> Outcome:
    """Link an account that exists already and bring it to the desired attributes."""
    account, matched_by = found
    current = snapshot_of(account, ctx.paths.values())
    changes = {p: v for p, v in row.attributes.items() if v is not None and current.get(p) != v}
    ops = patch_operations(changes, current, ctx.paths)
    if not is_active(account):
        ops.append({"op": "replace", "path": "active", "value": True})
    if ops:
        app.patch_user(account["id"], {"schemas": [PATCH_SCHEMA], "Operations": ops})
    modified = [{"path": p, "old": current.get(p), "new": v} for p, v in changes.items()]
    return Outcome(
        row.change_id,
        "succeeded",
        target_id=account["id"],
        matched_by=matched_by,
        attributes={**current, **changes},
        active=True,
        action="update",
        modified=modified,
        detail=note,
    )


def report(ctx: CycleContext) -> dict[str, Any]:
    """Summarise the cycle from the outbox, store it, and say whether it failed."""
    counts = ctx.store.outbox_counts(ctx.app, ctx.cycle_id)
    per_action = {a: {s: n for (act, s), n in counts.items() if act == a} for a in (*ACTIONS, "skip")}
    failed = sum(n for (_, status), n in counts.items() if status == "failed")
    pending = sum(n for (_, status), n in counts.items() if status in ("pending", "in_flight"))
    status = "failed" if failed or pending else "succeeded"
    summary = {
        "app": ctx.app,
        "cycle_id": ctx.cycle_id,
        "status": status,
        "actions": {a: v for a, v in per_action.items() if v},
        "failed": failed,
        "not_applied": pending,
    }
    ctx.store.finish_cycle(ctx.app, ctx.cycle_id, status, summary)
    return summary
