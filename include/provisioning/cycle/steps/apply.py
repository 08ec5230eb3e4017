"""Step 4: execute the outbox against the app, phase by phase, resumable after any crash.

Users go first, then groups, then memberships (which need the app ids of both). Each action is
marked in_flight before its request can go out, so an interrupted attempt leaves a trail the next
one verifies instead of blindly repeating a create. A refusal that stops the cycle (bad
credentials, a protocol violation) ends the phase and leaves the rest for the next run.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from provisioning.connectors.base import AppConnector
from provisioning.cycle.context import CycleContext
from provisioning.cycle.executors import AppIds, execute
from provisioning.cycle.lease import acquire, check_endpoint, release
from provisioning.cycle.steps.artifacts import resume
from provisioning.engine.outbox import Outcome
from provisioning.engine.vocabulary import ObjectType, OutboxStatus
from provisioning.state.leases import Lease

# Outcomes written to the state store per transaction during apply.
WRITE_BATCH = 200


def apply(ctx: CycleContext) -> dict[str, Any]:
    """Execute the outbox phase by phase (users, groups, memberships) with bounded concurrency;
    resume-safe after a crash or a rerun.

    A sliding window keeps ``max_concurrency`` requests in flight while finished ones are written
    to the state store. Each action is marked in_flight before its request can go out, so a crash
    leaves a trail the next attempt verifies instead of blindly repeating a create.
    """
    resume(ctx)
    if ctx.options.dry_run:
        return {"attempted": 0, "succeeded": 0, "failed": 0, "dry_run": True}
    lease = acquire(ctx)  # a retried attempt takes over: the stale one's writes are refused
    rows = ctx.store.open_actions(ctx.app, ctx.cycle_id)
    if not rows:
        release(ctx)
        return {"attempted": 0, "succeeded": 0, "failed": 0}
    connector = ctx.connector()
    check_endpoint(ctx, connector.endpoint)
    counts: dict[str, int] = defaultdict(int)
    stopped: str | None = None
    for object_type in (ObjectType.USER, ObjectType.GROUP, ObjectType.MEMBERSHIP):
        phase = [r for r in rows if r.object_type == object_type]
        if phase and stopped is None:
            ids = AppIds.load(ctx) if object_type == ObjectType.MEMBERSHIP else AppIds()
            stopped = _run_phase(ctx, connector, phase, ids, counts, lease)
    release(ctx)
    summary = {
        "attempted": len(rows),
        "succeeded": counts[OutboxStatus.SUCCEEDED],
        "failed": counts[OutboxStatus.FAILED],
    }
    if connector.throttled:
        summary["throttled"] = connector.throttled
    if stopped is not None:
        ctx.store.record_cycle_error(ctx.app, ctx.cycle_id, "app_refused", stopped)
        summary["stopped"] = stopped
        summary["not_attempted"] = len(rows) - counts[OutboxStatus.SUCCEEDED] - counts[OutboxStatus.FAILED]
    return summary


def _run_phase(
    ctx: CycleContext, connector: AppConnector, rows: list, ids: AppIds, counts: dict[str, int], lease: Lease
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
            fresh = [r.change_id for r in chunk if r.status != OutboxStatus.IN_FLIGHT]
            ctx.store.mark_in_flight(fresh, lease)
            running.update(pool.submit(execute, ctx, connector, row, ids) for row in chunk)

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
                ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done, lease, connector.endpoint)
                done = []
            if stopped is None:
                refill()
    ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done, lease, connector.endpoint)
    return stopped
