"""Step 5: summarise the cycle, decide quarantine and say whether it failed.

The report reads the outbox, not the earlier steps' XComs, so it tells the truth even after
failed or cleared tasks; it always releases the app's lease so the next run need not wait for it
to expire. A dry run changed nothing, so its report touches no quarantine, escrow or alert.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from provisioning.cycle.context import CycleContext
from provisioning.cycle.guards import update_quarantine
from provisioning.cycle.lease import release
from provisioning.cycle.removals import HOLD_CODE
from provisioning.engine.vocabulary import Action, CycleStatus, LogStatus, OutboxStatus


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
    failed, succeeded, staged = (
        by_status[OutboxStatus.FAILED] + by_status[OutboxStatus.UNRESOLVED],
        by_status[OutboxStatus.SUCCEEDED],
        by_status[OutboxStatus.STAGED],
    )
    pending = by_status[OutboxStatus.PENDING] + by_status[OutboxStatus.IN_FLIGHT]
    cycle = ctx.store.cycle(ctx.app, ctx.cycle_id) or {}
    partitions = ctx.store.leases.partitions(ctx.app, ctx.cycle_id)
    unfinished = _unfinished(partitions, ctx.config.target.partitions)
    quarantine = update_quarantine(ctx, succeeded + failed, failed, cycle)
    if cycle.get("error") or failed or pending or unfinished:
        status = CycleStatus.FAILED
    elif staged:
        status = CycleStatus.STAGED
    else:
        status = CycleStatus.SUCCEEDED
    summary = {
        "app": ctx.app,
        "cycle_id": ctx.cycle_id,
        "status": status,
        "actions": {
            object_type: {a: dict(v) for a, v in actions.items()} for object_type, actions in per_type.items()
        },
        "failed": failed,
        "not_applied": pending,
        "staged": staged,
        "in_escrow": len(ctx.store.escrow(ctx.app)),
        "quarantine": quarantine,
        "alerts": [f"{a['kind']}: {a['message']}" for a in ctx.store.alerts(ctx.app, ctx.cycle_id)],
    }
    if partitions:
        summary["partitions"] = [
            {k: p[k] for k in ("partition", "status", "attempted", "succeeded", "failed", "error")}
            for p in partitions
        ]
    errors = [cycle["error"]] if cycle.get("error") else []
    if errors or unfinished:
        summary["error"] = "; ".join(errors + unfinished)
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
        if row["status"] == LogStatus.DRY_RUN:
            would[row["object_type"]][row["action"]] += 1
            held += row["error_code"] == HOLD_CODE
        elif row["status"] == LogStatus.SKIPPED and row["action"] == Action.SKIP:
            skipped += 1
    cycle = ctx.store.cycle(ctx.app, ctx.cycle_id) or {}
    summary = {
        "app": ctx.app,
        "cycle_id": ctx.cycle_id,
        "status": CycleStatus.FAILED if cycle.get("error") else CycleStatus.DRY_RUN,
        "dry_run": True,
        "would": {object_type: dict(actions) for object_type, actions in would.items()},
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


def _unfinished(partitions: list[dict[str, Any]], configured: int) -> list[str]:
    """Partitions of a partitioned apply that did not get through: stopped by the app, an attempt
    that never finished (its task failed, or its worker was lost), or one that never ran."""
    count = partitions[0]["count"] if partitions else configured
    if count == 1:
        return []
    ran = {p["partition"]: p for p in partitions}
    return [
        f"apply partition {i + 1} of {count} "
        + (
            "did not run"
            if i not in ran
            else f"stopped: {ran[i]['error']}"
            if ran[i]["status"] == "stopped"
            else "did not finish (see its task log)"
        )
        for i in range(count)
        if i not in ran or ran[i]["status"] in ("stopped", "running")
    ]
