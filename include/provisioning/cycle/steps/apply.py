"""Step 4: execute the outbox against the app, phase by phase, resumable after any crash.

Users go first, then groups, then memberships (which need the app ids of both). Each action is
marked in_flight before its request can go out, so an interrupted attempt leaves a trail the next
one verifies instead of blindly repeating a create. A refusal that stops the cycle (bad
credentials, a protocol violation) ends the phase and leaves the rest for the next run.

With ``target.partitions`` > 1 the user actions are split by a stable hash of the directory id
over that many ``apply`` tasks (mapped in the DAG, on any workers), each resumable on its own; once
all are done, ``apply_groups`` carries out the groups and then the memberships, which need the app
ids every partition made.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from provisioning.connectors.base import AppConnector
from provisioning.cycle.context import CycleContext
from provisioning.cycle.executors import AppIds, execute
from provisioning.cycle.lease import acquire, check_endpoint, release
from provisioning.cycle.steps.artifacts import resume
from provisioning.engine.outbox import Outcome
from provisioning.engine.partitions import Partition
from provisioning.engine.vocabulary import ObjectType, OutboxStatus
from provisioning.state.leases import Lease

# Outcomes written to the state store per transaction during apply.
WRITE_BATCH = 200


PHASES = (ObjectType.USER, ObjectType.GROUP, ObjectType.MEMBERSHIP)


def apply(ctx: CycleContext, partition: Partition | None = None) -> dict[str, Any]:
    """Execute the outbox phase by phase (users, groups, memberships) with bounded concurrency;
    resume-safe after a crash or a rerun. With ``partition``: only the user actions it owns.

    A sliding window keeps ``max_concurrency`` requests in flight while finished ones are written
    to the state store. Each action is marked in_flight before its request can go out, so a crash
    leaves a trail the next attempt verifies instead of blindly repeating a create.
    """
    if partition is None:
        return _apply(ctx, PHASES)
    if ctx.options.dry_run:
        return _DRY_RUN
    lease = acquire(ctx, partition)  # joins the run; a retry of this partition fences its stale attempt
    slots = partition.share_of_slots(ctx.config.target.max_concurrency)

    def progress(attempted: int, counts: dict[str, int]) -> None:
        succeeded, failed = counts[OutboxStatus.SUCCEEDED], counts[OutboxStatus.FAILED]
        ctx.store.leases.record_progress(lease, attempted, succeeded, failed)

    summary = _apply(ctx, (ObjectType.USER,), lease, partition.owns, slots, progress)
    counts = {k: summary[k] for k in ("attempted", "succeeded", "failed")}
    status = "stopped" if "stopped" in summary else "failed" if summary["failed"] else "succeeded"
    ctx.store.leases.finish_partition(lease, status, counts, summary.get("stopped"))
    return {**summary, "partition": f"{partition.index + 1} of {partition.count}"}


def apply_groups(ctx: CycleContext, count: int) -> dict[str, Any]:
    """After the ``count`` partitions of a partitioned apply: groups, then memberships -- only if
    every partition got through (succeeded, or finished with failed actions). Otherwise (the plan
    was never made, the app stopped a partition, its task failed or its worker was lost) nothing is sent and
    nothing recorded is cleared; the report says which partition, and the next cycle plans the
    groups again. A partition attempt still running on a lost worker is fenced off first."""
    if ctx.options.dry_run:
        return _DRY_RUN
    ctx.store.leases.fence_partitions(ctx.app, ctx.cycle_id)
    partitions = ctx.store.leases.partitions(ctx.app, ctx.cycle_id)
    through = [p for p in partitions if p["status"] in ("succeeded", "failed")]
    if len(through) < count:
        return {"attempted": 0, "succeeded": 0, "failed": 0, "partitions_not_through": count - len(through)}
    return _apply(ctx, (ObjectType.GROUP, ObjectType.MEMBERSHIP))


_DRY_RUN = {"attempted": 0, "succeeded": 0, "failed": 0, "dry_run": True}


def _apply(
    ctx: CycleContext,
    phases: tuple[str, ...],
    lease: Lease | None = None,
    owns: Callable[[str], bool] | None = None,
    workers: int | None = None,
    progress: Callable[[int, dict[str, int]], None] | None = None,
) -> dict[str, Any]:
    """The open actions of ``phases`` (those ``owns`` accepts), under ``lease`` or the run's own.
    A partition records its stop on its partition row: the cycle's error is cleared by a sibling's
    or a later step's fresh start."""
    partitioned = lease is not None
    if not partitioned:
        resume(ctx)
        if ctx.options.dry_run:
            return _DRY_RUN
        lease = acquire(ctx)  # a retried attempt takes over: the stale one's writes are refused
    rows = [
        r
        for r in ctx.store.open_actions(ctx.app, ctx.cycle_id)
        if r.object_type in phases and (owns is None or owns(r.source_id))
    ]
    if not rows:
        if not partitioned:
            release(ctx)
        return {"attempted": 0, "succeeded": 0, "failed": 0}
    connector = ctx.connector()
    check_endpoint(ctx, connector.endpoint)
    workers = workers or ctx.config.target.max_concurrency
    counts: dict[str, int] = defaultdict(int)
    written = (lambda: progress(len(rows), counts)) if progress else None
    if written:
        written()
    stopped: str | None = None
    for object_type in phases:
        phase = [r for r in rows if r.object_type == object_type]
        if phase and stopped is None:
            ids = AppIds.load(ctx) if object_type == ObjectType.MEMBERSHIP else AppIds()
            stopped = _run_phase(ctx, connector, phase, ids, counts, lease, workers, written)
    if not partitioned:
        release(ctx)
    summary = {
        "attempted": len(rows),
        "succeeded": counts[OutboxStatus.SUCCEEDED],
        "failed": counts[OutboxStatus.FAILED],
    }
    if connector.throttled:
        summary["throttled"] = connector.throttled
    if stopped is not None:
        if not partitioned:
            ctx.store.record_cycle_error(ctx.app, ctx.cycle_id, "app_refused", stopped)
        summary["stopped"] = stopped
        summary["not_attempted"] = len(rows) - counts[OutboxStatus.SUCCEEDED] - counts[OutboxStatus.FAILED]
    return summary


def _run_phase(
    ctx: CycleContext,
    connector: AppConnector,
    rows: list,
    ids: AppIds,
    counts: dict[str, int],
    lease: Lease | None,
    workers: int,
    written: Callable[[], None] | None,
) -> str | None:
    """One phase through a sliding window of ``workers`` requests; ``written`` is told after each
    batch of outcomes is stored (a partition's progress on the page)."""
    by_id = {r.change_id: r for r in rows}
    queue = iter(rows)
    stopped: str | None = None
    done: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"apply-{ctx.app}") as pool:
        running: set[Future] = set()

        def refill() -> None:
            """Top the window up once half of it is drained, so each in-flight mark (a transaction)
            covers many actions; the pool's threads still have a queue of their own meanwhile."""
            if len(running) > workers * 2:
                return
            chunk = list(itertools.islice(queue, workers * 4 - len(running)))
            if not chunk:
                return
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
                if written:
                    written()
            if stopped is None:
                refill()
    ctx.store.record_outcomes(ctx.app, ctx.cycle_id, by_id, done, lease, connector.endpoint)
    return stopped
