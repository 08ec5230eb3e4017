"""The provisioning log: one row per thing done, skipped, held or noted for an object, as people
read it (Entra's words for statuses), searched by the Provisioning page and exported as CSV.

Built for a log of millions of rows: pages are keyset-paged on the row id (newest first, no
OFFSET, no COUNT), every filter but the free-text one hits an index, and pruning deletes in
bounded batches so a cycle's report never holds a long write lock. Every function works on a
connection: the caller owns the transaction, so an outcome's log row is written with its
outbox row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select

from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.plan import new_change_id
from provisioning.engine.vocabulary import Action, LogStatus, OutboxStatus
from provisioning.state import tables as t
from provisioning.state.batches import chunks
from provisioning.state.times import aware, utcnow

PAGE_MAX = 200
PRUNE_BATCH = 5000
# an outcome's outbox status -> its log status
LOG_STATUS = {
    OutboxStatus.SUCCEEDED: LogStatus.SUCCESS,
    OutboxStatus.FAILED: LogStatus.FAILURE,
    OutboxStatus.SKIPPED: LogStatus.SKIPPED,
    OutboxStatus.STAGED: LogStatus.STAGED,
}


class LogOnlyAction(StrEnum):
    """Log rows with no outbox action behind them."""

    NOTE = "note"  # a note on an object that is still provisioned (e.g. members left out)
    ON_DEMAND = "on_demand"  # the trace of a provision-on-demand run


# every action a log row can name, in the order people pick them
LOG_ACTIONS: tuple[str, ...] = (*Action, *LogOnlyAction)


@dataclass(frozen=True, kw_only=True)
class LogFilter:
    apps: tuple[str, ...] = ()  # empty: every app
    user: str | None = None  # exact directory id or app id, or the start of the display name
    action: str | None = None
    status: str | None = None
    lifecycle: str | None = None  # joiner | mover | leaver
    cycle_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list:
        c = t.provisioning_log.c
        clauses = []
        if self.apps:
            clauses.append(c.app.in_(self.apps))
        if self.user:
            clauses.append(
                or_(
                    c.source_id == self.user,
                    c.target_id == self.user,
                    c.source_display.like(f"{_escape(self.user)}%", escape="\\"),
                )
            )
        for column, value in (
            (c.action, self.action),
            (c.status, self.status),
            (c.lifecycle, self.lifecycle),
            (c.cycle_id, self.cycle_id),
        ):
            if value:
                clauses.append(column == value)
        if self.since:
            clauses.append(c.time >= self.since)
        if self.until:
            clauses.append(c.time < self.until)
        return clauses


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_log(
    conn: Connection, where: LogFilter, before_id: int | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of matching rows, newest first, and the cursor of the next page (None at the end)."""
    limit = max(1, min(limit, PAGE_MAX))
    c = t.provisioning_log.c
    query = select(t.provisioning_log).where(*where.where()).order_by(c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(c.id < before_id)
    rows = [{**r, "time": aware(r["time"])} for r in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more else None)


def log(conn: Connection, app: str, cycle_id: str | None = None) -> list[dict[str, Any]]:
    """The app's log rows (of one cycle), oldest first."""
    c = t.provisioning_log.c
    query = select(t.provisioning_log).where(c.app == app).order_by(c.id)
    if cycle_id is not None:
        query = query.where(c.cycle_id == cycle_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def add_log_rows(conn: Connection, app: str, cycle_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Log rows with no outbox action behind them: a dry run's plan, an on-demand trace. They are
    logged now unless a row carries its own ``time`` (history written at once, as a benchmark's)."""
    now = utcnow()
    full = [{"change_id": new_change_id(), "app": app, "cycle_id": cycle_id, "time": now, **r} for r in rows]
    for chunk in chunks(full, 1000):
        conn.execute(insert(t.provisioning_log), chunk)


def log_row(row: dict[str, Any], now: datetime, **fields: Any) -> dict[str, Any]:
    """A provisioning log row for an outbox row that is logged as it is written (staged, skipped)."""
    return {
        "change_id": row["change_id"],
        "app": row["app"],
        "cycle_id": row["cycle_id"],
        "time": now,
        "object_type": row["object_type"],
        "source_id": row["source_id"],
        "source_display": row["display"],
        "action": row["action"],
        **fields,
    }


def log_outcomes(
    conn: Connection,
    app: str,
    cycle_id: str,
    rows: dict[str, OutboxRow],
    outcomes: Sequence[Outcome],
    notes: dict[str, str],
    now: datetime,
) -> None:
    """One row per outcome, replacing the row of an earlier attempt at the same action;
    ``notes`` (escrow's, per change id) are added to the detail."""
    conn.execute(
        delete(t.provisioning_log).where(t.provisioning_log.c.change_id.in_([o.change_id for o in outcomes]))
    )
    conn.execute(
        insert(t.provisioning_log),
        [
            {
                "change_id": o.change_id,
                "app": app,
                "cycle_id": cycle_id,
                "time": now,
                "object_type": rows[o.change_id].object_type,
                "source_id": rows[o.change_id].source_id,
                "source_display": rows[o.change_id].display,
                "target_id": o.target_id or rows[o.change_id].target_id,
                "action": o.action or rows[o.change_id].action,
                "status": LOG_STATUS[o.status],
                "modified_properties": o.modified if o.modified is not None else rows[o.change_id].modified,
                "detail": _join(o.detail or rows[o.change_id].reason, notes.get(o.change_id)),
                "error_code": o.error_code,
                "error_message": o.error_message,
                "duration_ms": o.duration_ms,
                "lifecycle": rows[o.change_id].lifecycle,
            }
            for o in outcomes
        ],
    )


def _join(*parts: str | None) -> str | None:
    return "; ".join(p for p in parts if p) or None


def prune_log_batch(conn: Connection, app: str, cutoff: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` of the app's log rows older than ``cutoff``; returns how many.
    The caller commits each batch, so no transaction holds the write lock for long."""
    c = t.provisioning_log.c
    ids = [r[0] for r in conn.execute(select(c.id).where((c.app == app) & (c.time < cutoff)).limit(batch))]
    if ids:
        conn.execute(delete(t.provisioning_log).where(c.id.in_(ids)))
    return len(ids)
