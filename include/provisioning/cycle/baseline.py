"""The links and member lists a cycle diffs against (what we last applied, or what a full
reconcile read from the app).

A dry run must plan as a real run would -- accounts that match get linked, drift gets corrected --
while writing nothing. So in a dry run, changes to the baseline go to an overlay kept with the
cycle's artifacts, and every later step of that cycle reads the store with the overlay on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provisioning.cycle.context import CycleContext
from provisioning.engine.plan import LinkState

OVERLAY = "dry_run_baseline"


def _overlay(ctx: CycleContext) -> dict[str, Any]:
    try:
        return ctx.store.get_artifact(ctx.app, ctx.cycle_id, OVERLAY)
    except LookupError:
        return {"links": {}, "removed": {}, "members": {}}


def save_links(
    ctx: CycleContext, object_type: str, rows: list[dict[str, Any]], removed: Iterable[str] = ()
) -> None:
    """Rows as ``StateStore.upsert_links`` takes them; ``removed``: source ids to forget first."""
    removed = list(removed)
    if not ctx.options.dry_run:
        ctx.store.delete_links(ctx.app, object_type, removed)
        endpoint = ctx.connector().endpoint if rows else None  # where these ids were read
        ctx.store.upsert_links(ctx.app, [{**r, "endpoint": endpoint} for r in rows], object_type)
        return
    overlay = _overlay(ctx)
    overlay["links"].setdefault(object_type, {}).update(
        {r["source_id"]: {k: r[k] for k in ("target_id", "attributes", "active")} for r in rows}
    )
    overlay["removed"].setdefault(object_type, []).extend(removed)
    ctx.store.put_artifact(ctx.app, ctx.cycle_id, OVERLAY, overlay)


def links(ctx: CycleContext, object_type: str) -> dict[str, LinkState]:
    current = ctx.store.links(ctx.app, object_type)
    if not ctx.options.dry_run:
        return current
    overlay = _overlay(ctx)
    for source_id in overlay["removed"].get(object_type, []):
        current.pop(source_id, None)
    for source_id, row in overlay["links"].get(object_type, {}).items():
        old = current.get(source_id)
        current[source_id] = LinkState(
            row["target_id"], row["attributes"], row["active"], old.disabled_at if old else None
        )
    return current


def link_targets(ctx: CycleContext, object_type: str) -> dict[str, str]:
    """Source id -> app id of each link, as ``links`` has them."""
    if ctx.options.dry_run:
        return {source_id: link.target_id for source_id, link in links(ctx, object_type).items()}
    return ctx.store.link_targets(ctx.app, object_type)


def save_members(ctx: CycleContext, groups: dict[str, dict[str, str]]) -> None:
    """Replace the member baseline of these groups: {group source id: {member source id: app id}}."""
    if not ctx.options.dry_run:
        ctx.store.replace_members(ctx.app, groups)
        return
    overlay = _overlay(ctx)
    overlay["members"].update(groups)
    ctx.store.put_artifact(ctx.app, ctx.cycle_id, OVERLAY, overlay)


def members(ctx: CycleContext) -> dict[str, dict[str, str]]:
    current = ctx.store.members(ctx.app)
    if ctx.options.dry_run:
        current.update(_overlay(ctx)["members"])
    return current
