"""What the store knows of an app as a whole: its quarantine, the alerts its cycles raised and
the notifications sent about them, the filters it refuses, and what it has open (the counts the
Provisioning page shows). Every function works on a connection: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from provisioning.engine.vocabulary import OutboxStatus
from provisioning.state import tables as t
from provisioning.state.times import aware, utcnow


def app_status(conn: Connection, app: str) -> dict[str, Any]:
    """Quarantine and the directory-size guard's state; an app never seen is not quarantined."""
    row = conn.execute(select(t.app_status).where(t.app_status.c.app == app)).mappings().first()
    if row is None:
        return {"app": app, "quarantined": False, "quarantine_level": 0, "retry_at": None}
    return {**row, "retry_at": aware(row["retry_at"]), "quarantined_since": aware(row["quarantined_since"])}


def update_app_status(conn: Connection, app: str, **values: Any) -> None:
    key = t.app_status.c.app == app
    if conn.execute(select(t.app_status.c.app).where(key)).first():
        conn.execute(update(t.app_status).where(key).values(updated_at=utcnow(), **values))
    else:
        conn.execute(
            insert(t.app_status).values(
                app=app,
                quarantined=values.pop("quarantined", False),
                quarantine_level=values.pop("quarantine_level", 0),
                updated_at=utcnow(),
                **values,
            )
        )


def open_counts(conn: Connection, app: str) -> dict[str, int]:
    """Staged removals waiting for approval, objects in escrow, linked objects."""
    staged = conn.execute(
        select(func.count()).where((t.outbox.c.app == app) & (t.outbox.c.status == OutboxStatus.STAGED))
    ).scalar_one()
    escrow = conn.execute(select(func.count()).where(t.escrow.c.app == app)).scalar_one()
    linked = conn.execute(select(func.count()).where(t.links.c.app == app)).scalar_one()
    return {"staged": staged, "in_escrow": escrow, "linked": linked}


def add_alert(conn: Connection, app: str, cycle_id: str, kind: str, message: str) -> None:
    conn.execute(
        insert(t.alerts).values(app=app, cycle_id=cycle_id, time=utcnow(), kind=kind, message=message)
    )


def alerts(conn: Connection, app: str, cycle_id: str | None = None) -> list[dict[str, Any]]:
    query = select(t.alerts).where(t.alerts.c.app == app).order_by(t.alerts.c.id)
    if cycle_id is not None:
        query = query.where(t.alerts.c.cycle_id == cycle_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def notifications(conn: Connection, app: str) -> dict[str, dict[str, Any]]:
    """Problem -> its notification state (open, last_sent, times_sent)."""
    rows = conn.execute(select(t.notifications).where(t.notifications.c.app == app)).mappings()
    return {
        r["problem"]: {**r, "last_sent": aware(r["last_sent"]), "first_seen": aware(r["first_seen"])}
        for r in rows
    }


def save_notification(conn: Connection, app: str, problem: str, **values: Any) -> None:
    key = (t.notifications.c.app == app) & (t.notifications.c.problem == problem)
    if conn.execute(select(t.notifications.c.app).where(key)).first():
        conn.execute(update(t.notifications).where(key).values(**values))
    else:
        conn.execute(insert(t.notifications).values(app=app, problem=problem, **values))


def refused_filters(conn: Connection, app: str, object_type: str, since: datetime) -> set[str]:
    """Filter attributes the app refused (400) after ``since``."""
    c = t.refused_filters.c
    query = select(c.attribute).where(
        (c.app == app) & (c.object_type == object_type) & (c.refused_at > since)
    )
    return {r[0] for r in conn.execute(query)}


def refuse_filter(conn: Connection, app: str, object_type: str, attribute: str, error: str) -> None:
    """Remember (or refresh) that the app refuses filters on ``attribute``."""
    c = t.refused_filters.c
    conn.execute(
        delete(t.refused_filters).where(
            (c.app == app) & (c.object_type == object_type) & (c.attribute == attribute)
        )
    )
    conn.execute(
        insert(t.refused_filters).values(
            app=app, object_type=object_type, attribute=attribute, refused_at=utcnow(), error=error
        )
    )
