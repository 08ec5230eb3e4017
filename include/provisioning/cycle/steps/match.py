"""Step 2: link objects that have no link yet to the app objects they already are.

A wrong link would overwrite or remove someone else's account, so matching never guesses: an
object whose matching values collide with another source object, or that finds several or an
unusable app object, is logged as a conflict and left unlinked. With many unlinked objects one
paged listing of the app is cheaper than a filter query per object.
"""

from __future__ import annotations

from typing import Any

from provisioning.cycle import baseline
from provisioning.cycle.context import CycleContext, ObjectRules
from provisioning.cycle.lease import acquire, check_endpoint
from provisioning.cycle.lookup import find_each
from provisioning.cycle.reconcile import reconcile
from provisioning.cycle.selection import selected
from provisioning.cycle.steps.artifacts import SAMPLE_SIZE, load_desired_groups, load_desired_users, resume
from provisioning.cycle.steps.bulk import collector_paused
from provisioning.engine.app_object import AppObject
from provisioning.engine.desired import DesiredUser
from provisioning.engine.desired_groups import DesiredGroup
from provisioning.engine.matching import (
    NO_MATCHING_VALUE,
    Conflict,
    match_accounts,
    source_conflicts,
)
from provisioning.engine.plan import Skip
from provisioning.engine.vocabulary import ObjectType
from provisioning.state.bounds import INVALID_APP_ID, app_id_problem

# Above this many unlinked objects, one paged listing of the app beats a filter query per object.
LIST_ALL_THRESHOLD = 25


@collector_paused
def match(ctx: CycleContext) -> dict[str, Any]:
    """Link in-scope objects without a link to existing app objects; log conflicts, never guess."""
    resume(ctx)
    acquire(ctx)
    if ctx.options.relinks_endpoint and not ctx.options.dry_run:
        _relink(ctx)
    check_endpoint(ctx, ctx.connector().endpoint)
    summary = _match(ctx, ObjectType.USER, ctx.users, load_desired_users(ctx))
    if ctx.groups is not None and selected(ctx, ObjectType.GROUP) != set():
        summary["groups"] = _match(ctx, ObjectType.GROUP, ctx.groups, load_desired_groups(ctx))
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
    ctx: CycleContext,
    object_type: str,
    rules: ObjectRules,
    everyone: list[DesiredUser] | list[DesiredGroup],
) -> dict[str, Any]:
    chosen = selected(ctx, object_type)
    desired = [
        (d.source_id, d.display, d.attributes)
        for d in everyone
        if d.in_scope and not d.error and (chosen is None or d.source_id in chosen)
    ]  # diff logs the mapping errors
    listing: list[AppObject] | None = None
    reconciled = None
    if ctx.options.reads_app:
        listing = list(ctx.connector().list(object_type))
        known = {d.source_id: (d.display, d.attributes) for d in everyone if not d.error}
        reconciled = reconcile(ctx, object_type, rules, ctx.connector(), listing, known, chosen)
    targets = baseline.link_targets(ctx, object_type)
    candidates = [(s, attrs) for s, _, attrs in desired if s not in targets]
    linked = [(s, attrs) for s, _, attrs in desired if s in targets]
    display = {s: d for s, d, _ in desired}
    conflicts = source_conflicts(candidates, linked, rules.rules)
    if rules.unique_rules:
        # the app enforces unique values (userNames) even when they are not a matching attribute
        conflicts += [
            c for c in source_conflicts(candidates, linked, rules.unique_rules) if c.code != NO_MATCHING_VALUE
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
            found = list(ctx.connector().list(object_type, members=False))
        else:
            lookup = "filter"
            found, failed = find_each(
                ctx,
                ctx.connector(),
                object_type,
                rules.rules,
                [(s, display[s], attrs) for s, attrs in candidates],
            )
            conflicts += failed
            conflicted |= {f.source_id for f in failed}
            candidates = [c for c in candidates if c[0] not in conflicted]
        owners = {target: source for source, target in targets.items()}
        matches, more = match_accounts(candidates, found, rules.rules, owners)
        refused = {m.source_id: p for m in matches if (p := app_id_problem(m.account.id))}
        conflicts += more + [Conflict(s, INVALID_APP_ID, p) for s, p in refused.items()]
        matches = [m for m in matches if m.source_id not in refused]
        baseline.save_links(
            ctx,
            object_type,
            [
                {
                    "source_id": m.source_id,
                    "target_id": m.account.id,
                    "matched_by": m.matched_by,
                    "attributes": {p: m.account.attributes.get(p) for p in rules.paths},
                    "active": m.account.active,
                }
                for m in matches
            ],
        )
    ctx.store.record_skips(
        ctx.app,
        ctx.cycle_id,
        [Skip(c.source_id, display[c.source_id], c.code, c.message) for c in conflicts],
        object_type,
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
