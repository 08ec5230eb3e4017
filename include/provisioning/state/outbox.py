"""The outbox: each cycle's plan as rows, whose status moves pending -> in_flight -> succeeded or
failed (or staged while held for approval, skipped when settled without a request).

What makes a crash or a rerun safe lives here: a new plan supersedes older unsent work but adopts
actions still in flight (their requests may be out); actions are marked in flight *before* their
requests go out; and an outcome is recorded with its link, members, escrow entry and log row in
the caller's one transaction. Writes that send or settle actions are fenced by the app's run
lease, so a stale attempt's writes are refused. Every function works on a connection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.plan import PlannedAction, Skip, new_change_id
from provisioning.engine.vocabulary import Action, LogStatus, ObjectType, OutboxStatus
from provisioning.state import escrow
from provisioning.state import links as linked
from provisioning.state import tables as t
from provisioning.state.batches import chunks
from provisioning.state.bounds import MAX_CODE_LENGTH, MAX_MESSAGE_LENGTH, clip
from provisioning.state.leases import Lease, fence
from provisioning.state.provisioning_log import LogOnlyAction, log_outcomes, log_row
from provisioning.state.times import utcnow

OPEN = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.UNRESOLVED)
# actions an earlier attempt may have carried out: the next cycle adopts them and verifies first
UNSETTLED = (OutboxStatus.IN_FLIGHT, OutboxStatus.UNRESOLVED)
# superseded by the next plan; an in_flight action is not: its request may be out, so the next
# cycle adopts it and verifies it instead of planning the object anew
SUPERSEDABLE = (OutboxStatus.PENDING, OutboxStatus.STAGED)
# in the payload of an adopted create the new plan no longer wants: look for it, never create it
CONFIRM_ONLY = "confirm_only"
# the error code of a removal held by the accidental-deletion guard
HELD_CODE = "AccidentalDeletionThreshold"


def write_plan(
    conn: Connection,
    app: str,
    cycle_id: str,
    actions: Sequence[PlannedAction],
    staged: frozenset[str],
    staged_reason: str | None,
    lease: Lease | None,
) -> int:
    """Replace every pending or staged action of the app with this plan (the plan is recomputed
    from current state, so older work is superseded, never applied twice). Actions still
    in flight or unresolved from an earlier cycle are adopted by this one (even if their object
    has left the scope since), whose apply verifies them, and
    this plan's actions on the same objects wait for the next cycle. Actions whose change id
    is in ``staged`` are held for approval and logged as staged the first cycle they are held.
    Returns the number of adopted actions."""
    now = utcnow()

    def row(seq: int, a: PlannedAction) -> dict[str, Any]:
        return {
            "change_id": a.change_id,
            "app": app,
            "cycle_id": cycle_id,
            "seq": seq,
            "phase": a.phase,
            "object_type": a.object_type,
            "source_id": a.source_id,
            "display": a.display,
            "target_id": a.target_id,
            "action": a.action,
            "payload": a.payload,
            "attributes": a.attributes,
            "active": a.active,
            "modified": a.modified_properties(),
            "reason": a.reason,
            "approved_by": a.approved_by,
            "lifecycle": a.lifecycle,
            "status": OutboxStatus.STAGED if a.change_id in staged else OutboxStatus.PENDING,
            "attempts": 0,
            "error_message": staged_reason if a.change_id in staged else None,
            "created_at": now,
        }

    c = t.outbox.c
    fence(conn, lease)
    in_flight = (c.app == app) & c.status.in_(UNSETTLED)
    unsettled = conn.execute(
        select(c.change_id, c.object_type, c.source_id, c.action, c.payload).where(in_flight)
    ).all()
    busy = {(r.object_type, r.source_id) for r in unsettled}
    if busy:
        conn.execute(update(t.outbox).where(in_flight).values(cycle_id=cycle_id))
        _refresh_creates(
            conn,
            [r for r in unsettled if r.action == Action.CREATE],
            [row(seq, a) for seq, a in enumerate(actions) if (a.object_type, a.source_id) in busy],
        )
    # staged actions are logged when first held, not again every cycle they wait
    waiting = set(
        conn.execute(
            select(c.object_type, c.source_id, c.action).where(
                (c.app == app) & (c.status == OutboxStatus.STAGED)
            )
        ).all()
    )
    conn.execute(
        update(t.outbox)
        .where((c.app == app) & c.status.in_(SUPERSEDABLE))
        .values(status=OutboxStatus.SUPERSEDED, finished_at=now)
    )
    # rows are built a batch at a time as they are inserted: all of a first cycle's rows at once
    # held more memory than the plan itself
    rows = (row(seq, a) for seq, a in enumerate(actions) if (a.object_type, a.source_id) not in busy)
    held: list[dict[str, Any]] = []
    for chunk in chunks(rows, 1000):
        conn.execute(insert(t.outbox), chunk)
        held += [
            r
            for r in chunk
            if r["status"] == OutboxStatus.STAGED
            and (r["object_type"], r["source_id"], r["action"]) not in waiting
        ]
    for chunk in chunks(held, 1000):
        conn.execute(
            insert(t.provisioning_log),
            [
                log_row(
                    r,
                    now,
                    status=LogStatus.STAGED,
                    target_id=r["target_id"],
                    modified_properties=r["modified"],
                    detail=r["reason"],
                    error_code=HELD_CODE,
                    error_message=staged_reason,
                    lifecycle=r["lifecycle"],
                )
                for r in chunk
            ],
        )
    return len(busy)


def _refresh_creates(conn: Connection, adopted: Sequence[Any], plan: list[dict[str, Any]]) -> None:
    """An adopted create verifies first, then creates what the *new* plan wants: its attributes
    if the plan creates the object again (a rename since is not sent stale), or nothing at all if
    the plan no longer creates it (the object left scope, or was matched meanwhile): then an
    account the earlier attempt made is only linked as it is, for the next diff to disable through
    the deletion guard, and none is made or re-enabled for someone who left."""
    creates = {(r["object_type"], r["source_id"]): r for r in plan if r["action"] == Action.CREATE}
    for row in adopted:
        new = creates.get((row.object_type, row.source_id))
        values = (
            {
                k: new[k]
                for k in ("display", "payload", "attributes", "active", "modified", "reason", "lifecycle")
            }
            if new
            else {"payload": {**(row.payload or {}), CONFIRM_ONLY: True}}
        )
        conn.execute(update(t.outbox).where(t.outbox.c.change_id == row.change_id).values(**values))


def record_skips(
    conn: Connection,
    app: str,
    cycle_id: str,
    skips: Iterable[Skip],
    object_type: str,
    log_only: bool,
) -> int:
    """Skipped objects (conflicts, missing values, disallowed actions): outbox + log rows.
    ``log_only``: a note on an object that is still provisioned (e.g. members left out)."""
    now = utcnow()
    if log_only:  # one note per object and kind of note
        log = t.provisioning_log.c
        already: set = {
            tuple(r)
            for r in conn.execute(
                select(log.source_id, log.error_code).where(
                    (log.app == app)
                    & (log.cycle_id == cycle_id)
                    & (log.object_type == object_type)
                    & (log.action == LogOnlyAction.NOTE)
                )
            )
        }
    else:
        already = skipped_sources(conn, app, cycle_id, object_type)
    rows = []
    for source_id, display, code, reason in skips:
        key = (source_id, code) if log_only else source_id
        if key in already:
            continue
        already.add(key)
        rows.append(
            {
                "change_id": new_change_id(),
                "app": app,
                "cycle_id": cycle_id,
                "seq": -1,
                "phase": 0,
                "object_type": object_type,
                "source_id": source_id,
                "display": display,
                "action": LogOnlyAction.NOTE if log_only else Action.SKIP,
                "status": OutboxStatus.SKIPPED,
                "attempts": 0,
                "error_code": clip(code, MAX_CODE_LENGTH),
                "error_message": clip(reason, MAX_MESSAGE_LENGTH),
                "created_at": now,
                "finished_at": now,
            }
        )
    for chunk in chunks(rows, 1000):
        if not log_only:
            conn.execute(insert(t.outbox), chunk)
        conn.execute(
            insert(t.provisioning_log),
            [
                log_row(
                    r,
                    now,
                    status=LogStatus.SKIPPED,
                    error_code=r["error_code"],
                    error_message=r["error_message"],
                )
                for r in chunk
            ],
        )
    return len(rows)


def skipped_sources(conn: Connection, app: str, cycle_id: str, object_type: str) -> set[str]:
    c = t.outbox.c
    key = (
        (c.app == app)
        & (c.cycle_id == cycle_id)
        & (c.status == OutboxStatus.SKIPPED)
        & (c.object_type == object_type)
    )
    return {r[0] for r in conn.execute(select(c.source_id).where(key))}


def open_actions(conn: Connection, app: str, cycle_id: str) -> list[OutboxRow]:
    """The cycle's actions still to send (or to verify, if in flight), in plan order."""
    c = t.outbox.c
    query = (
        select(t.outbox)
        .where((c.app == app) & (c.cycle_id == cycle_id) & c.status.in_(OPEN))
        .order_by(c.phase, c.seq)
    )
    return [
        OutboxRow(
            change_id=r.change_id,
            object_type=ObjectType(r.object_type),
            source_id=r.source_id,
            display=r.display,
            target_id=r.target_id,
            action=Action(r.action),
            payload=r.payload,
            attributes=r.attributes or {},
            active=bool(r.active),
            modified=r.modified or [],
            reason=r.reason,
            lifecycle=r.lifecycle,
            status=OutboxStatus(r.status),
            attempts=r.attempts,
        )
        for r in conn.execute(query)
    ]


def mark_in_flight(conn: Connection, change_ids: Sequence[str], lease: Lease | None) -> None:
    """Written before the requests go out: a crash leaves them in_flight, to be verified on resume.
    Refused (LeaseLost) when another attempt has taken the app's lease: nothing is sent then."""
    fence(conn, lease)
    for chunk in chunks(list(change_ids), 500):
        conn.execute(
            update(t.outbox)
            .where(t.outbox.c.change_id.in_(chunk))
            .values(status=OutboxStatus.IN_FLIGHT, attempts=t.outbox.c.attempts + 1)
        )


def record_outcomes(
    conn: Connection,
    app: str,
    cycle_id: str,
    rows: dict[str, OutboxRow],
    outcomes: Sequence[Outcome],
    lease: Lease | None,
    endpoint: str | None,
) -> None:
    """Outbox status, links (made in ``endpoint``) and members of successes, escrow, and log
    rows, all on ``conn``: the caller's one transaction. ``outcomes`` is not empty."""
    now = utcnow()
    fence(conn, lease)
    conn.execute(
        update(t.outbox)
        .where(t.outbox.c.change_id == bindparam("b_change_id"))
        .values(
            status=bindparam("b_status"),
            target_id=bindparam("b_target"),
            error_code=bindparam("b_code"),
            error_message=bindparam("b_message"),
            finished_at=now,
        ),
        [
            {
                "b_change_id": o.change_id,
                "b_status": _status_after(o),
                "b_target": o.target_id or rows[o.change_id].target_id,
                "b_code": o.error_code,
                "b_message": o.error_message,
            }
            for o in outcomes
        ],
    )
    _settle_links(conn, app, rows, outcomes, endpoint)
    notes = escrow.record_outcomes(conn, app, rows, outcomes, now)
    log_outcomes(conn, app, cycle_id, rows, outcomes, notes, now)


def _status_after(outcome: Outcome) -> OutboxStatus:
    if outcome.unresolved:
        return OutboxStatus.UNRESOLVED  # whoever comes next verifies before acting (write_plan adopts it)
    if outcome.stops_cycle:
        return OutboxStatus.PENDING  # refused credentials are not the object's fault: it waits for a rerun
    return outcome.status


def _settle_links(
    conn: Connection, app: str, rows: dict[str, OutboxRow], outcomes: Sequence[Outcome], endpoint: str | None
) -> None:
    """Successes move the links and member baselines with them: deleted objects are forgotten."""
    upserts: dict[str, list[dict[str, Any]]] = {ObjectType.USER: [], ObjectType.GROUP: []}
    deleted: dict[str, list[str]] = {ObjectType.USER: [], ObjectType.GROUP: []}
    for o in outcomes:
        row = rows[o.change_id]
        if o.status != OutboxStatus.SUCCEEDED:
            continue
        if row.object_type == ObjectType.MEMBERSHIP:
            linked.apply_members(conn, app, row, o)
        elif (o.action or row.action) == Action.DELETE:
            deleted[row.object_type].append(row.source_id)
        else:
            upserts[row.object_type].append(
                {
                    "source_id": row.source_id,
                    "target_id": o.target_id or row.target_id,
                    "matched_by": o.matched_by,
                    "attributes": o.attributes if o.attributes is not None else row.attributes,
                    "active": o.active if o.active is not None else row.active,
                    "endpoint": endpoint,
                }
            )
    for object_type in (ObjectType.USER, ObjectType.GROUP):
        linked.upsert_links(conn, app, object_type, upserts[object_type])
        linked.delete_links(conn, app, object_type, deleted[object_type])


def outbox_counts(conn: Connection, app: str, cycle_id: str) -> Counter:
    """(object type, action, status) -> number of actions of the cycle."""
    c = t.outbox.c
    query = (
        select(c.object_type, c.action, c.status, func.count())
        .where((c.app == app) & (c.cycle_id == cycle_id))
        .group_by(c.object_type, c.action, c.status)
    )
    return Counter({(o, a, s): n for o, a, s, n in conn.execute(query)})
