"""Escrow: objects whose last action (or lookup) failed, and when they may be tried again.

One object's failure is that object's: it waits out a growing backoff here while the rest of the
app goes on. The fingerprint of the failed request lets a changed request out early. Every
function works on a connection, so an outcome's escrow entry is written with its outbox row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.safety import escrow_delay, fingerprint
from provisioning.engine.vocabulary import ObjectType, OutboxStatus
from provisioning.state import tables as t
from provisioning.state.batches import chunks
from provisioning.state.times import aware


def action_fingerprint(object_type: str, action: str, payload: Any) -> str:
    """Membership batches change with every member: their escrow is per group and action."""
    return fingerprint(action, None if object_type == ObjectType.MEMBERSHIP else payload)


def _key(app: str, object_type: str, source_id: str):
    c = t.escrow.c
    return (c.app == app) & (c.object_type == object_type) & (c.source_id == source_id)


def record_outcomes(
    conn: Connection, app: str, rows: dict[str, OutboxRow], outcomes: Sequence[Outcome], now: datetime
) -> dict[str, str]:
    """Failures enter (or stay in) escrow with a growing backoff; successes leave it (in one
    statement per object type: most outcomes are successes). Successes are applied first, so an
    object with a failed and a succeeded action in the same batch stays in escrow.
    Returns a note per failed change id for the provisioning log."""
    succeeded: dict[str, list[str]] = defaultdict(list)
    for o in outcomes:
        if o.status == OutboxStatus.SUCCEEDED:
            row = rows[o.change_id]
            succeeded[row.object_type].append(row.source_id)
    for object_type, source_ids in succeeded.items():
        leave_escrow(conn, app, object_type, source_ids)
    notes: dict[str, str] = {}
    for o in outcomes:
        if o.status != OutboxStatus.FAILED or o.stops_cycle or o.unresolved:
            # a refused app is quarantine's business, not this object's; an unresolved create is
            # looked for by the next cycle, which adopts it, whatever escrow would say
            continue
        row = rows[o.change_id]
        notes[o.change_id] = record_failure(
            conn,
            app,
            row.object_type,
            row.source_id,
            row.display,
            action_fingerprint(row.object_type, row.action, row.payload),
            o.permanent,
            o.error_code,
            o.error_message,
            now,
        )
    return notes


def record_failure(
    conn: Connection,
    app: str,
    object_type: str,
    source_id: str,
    display: str,
    fingerprint_: str,
    permanent: bool,
    code: str | None,
    message: str | None,
    now: datetime,
) -> str:
    """One more failure of one object: its escrow entry with the next retry time; the log note."""
    key = _key(app, object_type, source_id)
    current = conn.execute(select(t.escrow.c.failures).where(key)).first()
    failures = (current[0] if current else 0) + 1
    retry_at = now + escrow_delay(failures, permanent)
    values = {
        "display": display,
        "failures": failures,
        "permanent": permanent,
        "fingerprint": fingerprint_,
        "last_failed_at": now,
        "next_retry_at": retry_at,
        "error_code": code,
        "error_message": message,
    }
    if current:
        conn.execute(update(t.escrow).where(key).values(**values))
    else:
        conn.execute(
            insert(t.escrow).values(
                app=app, object_type=object_type, source_id=source_id, first_failed_at=now, **values
            )
        )
    when = "next cycle" if retry_at <= now else f"not before {retry_at:%Y-%m-%d %H:%M} UTC"
    return f"escrow: failure {failures}, retried {when}"


def leave_escrow(
    conn: Connection,
    app: str,
    object_type: str,
    source_ids: Iterable[str],
    fingerprints: set[str] | None = None,
) -> None:
    """Objects whose escrowed failure (one of ``fingerprints``; any, when None) no longer happens."""
    c = t.escrow.c
    for chunk in chunks(list(source_ids), 500):
        where = (c.app == app) & (c.object_type == object_type) & c.source_id.in_(chunk)
        if fingerprints is not None:
            where &= c.fingerprint.in_(fingerprints)
        conn.execute(delete(t.escrow).where(where))


def escrow(conn: Connection, app: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(object type, source id) -> escrow row."""
    rows = conn.execute(select(t.escrow).where(t.escrow.c.app == app)).mappings()
    return {
        (r["object_type"], r["source_id"]): {**r, "next_retry_at": aware(r["next_retry_at"])} for r in rows
    }


def clear_escrow(conn: Connection, app: str) -> int:
    return conn.execute(delete(t.escrow).where(t.escrow.c.app == app)).rowcount
