"""Read side of the state store for people: the Provisioning page's queries and log retention.

Built for a log of millions of rows: pages are keyset-paged on the row id (newest first, no
OFFSET, no COUNT), every filter but the free-text one hits an index, and pruning deletes in
bounded batches so a cycle's report never holds a long write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select

from provisioning.state import tables as t
from provisioning.state.store import StateStore
from provisioning.state.times import utcnow

PAGE_MAX = 200
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class LogFilter:
    apps: tuple[str, ...] = ()  # empty: every app
    user: str | None = None  # exact directory id or app id, or the start of the display name
    action: str | None = None
    status: str | None = None
    cycle_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self):
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
        for column, value in ((c.action, self.action), (c.status, self.status), (c.cycle_id, self.cycle_id)):
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
    store: StateStore, where: LogFilter, before_id: int | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of matching rows, newest first, and the cursor of the next page (None at the end)."""
    limit = max(1, min(limit, PAGE_MAX))
    c = t.provisioning_log.c
    query = select(t.provisioning_log).where(*where.where()).order_by(c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(c.id < before_id)
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more else None)


def iter_log(store: StateStore, where: LogFilter, batch: int = PAGE_MAX):
    """Every matching row, newest first, fetched page by page (CSV export)."""
    cursor = None
    while True:
        rows, cursor = search_log(store, where, cursor, batch)
        yield from rows
        if cursor is None:
            return


def recent_cycles(store: StateStore, app: str, limit: int = 50) -> list[dict[str, Any]]:
    c = t.cycles.c
    query = (
        select(c.cycle_id, c.started_at, c.finished_at, c.status, c.summary)
        .where(c.app == app)
        .order_by(c.started_at.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def open_counts(store: StateStore, app: str) -> dict[str, int]:
    """Staged deletions waiting for approval, objects in escrow, linked objects."""
    with store.engine.connect() as conn:
        staged = conn.execute(
            select(func.count()).where((t.outbox.c.app == app) & (t.outbox.c.status == "staged"))
        ).scalar_one()
        escrow = conn.execute(select(func.count()).where(t.escrow.c.app == app)).scalar_one()
        linked = conn.execute(select(func.count()).where(t.links.c.app == app)).scalar_one()
    return {"staged": staged, "in_escrow": escrow, "linked": linked}


def prune(store: StateStore, app: str, retention_days: int, now: datetime | None = None) -> int:
    """Delete log rows, finished cycles and their outbox rows and alerts older than the retention."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    removed = 0
    log = t.provisioning_log.c
    while True:
        with store.engine.begin() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    select(log.id).where((log.app == app) & (log.time < cutoff)).limit(PRUNE_BATCH)
                )
            ]
            if ids:
                conn.execute(delete(t.provisioning_log).where(log.id.in_(ids)))
        removed += len(ids)
        if len(ids) < PRUNE_BATCH:
            break
    with store.engine.begin() as conn:
        old = select(t.cycles.c.cycle_id).where(
            (t.cycles.c.app == app) & (t.cycles.c.started_at < cutoff) & t.cycles.c.finished_at.is_not(None)
        )
        conn.execute(
            delete(t.outbox).where(
                (t.outbox.c.app == app)
                & t.outbox.c.cycle_id.in_(old)
                & t.outbox.c.status.in_(("succeeded", "failed", "skipped", "superseded"))
            )
        )
        conn.execute(delete(t.alerts).where((t.alerts.c.app == app) & (t.alerts.c.time < cutoff)))
        conn.execute(
            delete(t.cycles).where((t.cycles.c.app == app) & t.cycles.c.cycle_id.in_(old.scalar_subquery()))
        )
    return removed
