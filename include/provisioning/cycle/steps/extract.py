"""Step 1: read the directory once and store the cycle's desired state.

Everything later in the cycle works from the stored desired users and groups, so the directory is
read a single time per cycle and a rerun of a later step sees the same picture. What the source
returned is checked above every source (cycle/source_checks.py): a directory that answers with no
users while accounts are linked is treated as broken, never as everyone leaving.
"""

from __future__ import annotations

from typing import Any

from provisioning.cycle.context import CycleContext
from provisioning.cycle.guards import check_quarantine
from provisioning.cycle.preview import preview, render
from provisioning.cycle.selection import SelectionError, save_selection
from provisioning.cycle.source_checks import read_directory
from provisioning.cycle.steps.artifacts import DESIRED_GROUPS, DESIRED_USERS, DIRECTORY_COUNTS
from provisioning.cycle.steps.bulk import collector_paused
from provisioning.engine.desired import DesiredUser, desired_users
from provisioning.engine.desired_groups import DesiredGroup, desired_groups
from provisioning.engine.validation import validate_users
from provisioning.engine.vocabulary import LogStatus, ObjectType


@collector_paused
def extract_assignments(ctx: CycleContext) -> dict[str, Any]:
    """Read the directory, resolve assignment and map attributes -> the cycle's desired state."""
    ctx.store.start_cycle(ctx.app, ctx.cycle_id)
    check_quarantine(ctx)
    snapshot = read_directory(ctx)
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
    size = ctx.store.put_artifact_items(
        ctx.app, ctx.cycle_id, DESIRED_USERS, (d.to_record() for d in desired)
    )
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
        ctx.store.put_artifact_items(ctx.app, ctx.cycle_id, DESIRED_GROUPS, (g.to_record() for g in groups))
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
    for source_id in selection[ObjectType.USER]:
        report = preview(ctx, source_id)
        trace.append(
            {
                "object_type": ObjectType.USER,
                "source_id": source_id,
                "source_display": report["user"]["userPrincipalName"],
                "target_id": report["matching"].get("target_id"),
                "action": "on_demand",
                "status": LogStatus.INFO,
                "modified_properties": report["attributes"],
                "detail": render(report),
            }
        )
    ctx.store.add_log_rows(ctx.app, ctx.cycle_id, trace)
    names = {u.source_id: u.display for u in users} | {g.source_id: g.display for g in groups}
    return {object_type: [names[s] for s in ids] for object_type, ids in selection.items()}
