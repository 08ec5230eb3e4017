"""Links (directory id <-> app id, with the attributes last applied) and group members.

A link belongs to the endpoint it was made in: its ids mean nothing in another base URL or
tenant. A deliberate move to another endpoint retires every link, and brings back the ones once
made there. The member rows of each group are the baseline of member adds and removes.
Every function works on a connection: the caller owns the transaction, so an outcome's link and
members change with its outbox row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, insert, select, update

from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.plan import LinkState
from provisioning.engine.vocabulary import Action, ObjectType
from provisioning.state import tables as t
from provisioning.state.batches import chunks
from provisioning.state.times import aware, utcnow

# what a link is, apart from where it lives: copied as it is between links and retired links
LINK_COLUMNS = ("object_type", "source_id", "target_id", "matched_by", "attributes", "active", "disabled_at")


def links(conn: Connection, app: str, object_type: str) -> dict[str, LinkState]:
    c = t.links.c
    query = select(c.source_id, c.target_id, c.attributes, c.active, c.disabled_at).where(
        (c.app == app) & (c.object_type == object_type)
    )
    return {row[0]: LinkState(row[1], row[2] or {}, row[3], aware(row[4])) for row in conn.execute(query)}


def link_targets(conn: Connection, app: str, object_type: str) -> dict[str, str]:
    """Source id -> app id of every link: what matching needs of them, without decoding the
    attributes last applied (most of the cost of ``links``)."""
    c = t.links.c
    query = select(c.source_id, c.target_id).where((c.app == app) & (c.object_type == object_type))
    return {source_id: target_id for source_id, target_id in conn.execute(query)}


def count_links(conn: Connection, app: str, object_type: str) -> int:
    c = t.links.c
    return conn.execute(
        select(func.count()).where((c.app == app) & (c.object_type == object_type))
    ).scalar_one()


def upsert_links(conn: Connection, app: str, object_type: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new links and update existing ones, each as one executemany.
    Rows: source_id, target_id, matched_by, attributes, active, endpoint (where it was made)."""
    if not rows:
        return
    now = utcnow()
    key = (t.links.c.app == app) & (t.links.c.object_type == object_type)
    sources = [r["source_id"] for r in rows]
    existing = {
        r[0]
        for chunk in chunks(sources, 500)
        for r in conn.execute(select(t.links.c.source_id).where(key & t.links.c.source_id.in_(chunk)))
    }
    new = [r for r in rows if r["source_id"] not in existing]
    if new:
        conn.execute(
            insert(t.links),
            [
                {
                    "app": app,
                    "object_type": object_type,
                    "source_id": r["source_id"],
                    "target_id": r["target_id"],
                    "matched_by": r.get("matched_by") or "created",
                    "attributes": r.get("attributes") or {},
                    "active": r.get("active", True),
                    "disabled_at": now if r.get("active", True) is False else None,
                    "endpoint": r.get("endpoint"),
                    "created_at": now,
                    "updated_at": now,
                }
                for r in new
            ],
        )
    changed = [r for r in rows if r["source_id"] in existing]
    if changed:
        active = bindparam("b_active", type_=t.links.c.active.type)
        conn.execute(
            update(t.links)
            .where(key & (t.links.c.source_id == bindparam("b_source")))
            .values(
                target_id=bindparam("b_target"),
                attributes=bindparam("b_attributes"),
                active=active,
                # unknown (NULL) is not disabled
                disabled_at=case((active.is_(False), func.coalesce(t.links.c.disabled_at, now)), else_=None),
                matched_by=func.coalesce(bindparam("b_matched_by"), t.links.c.matched_by),
                endpoint=func.coalesce(bindparam("b_endpoint"), t.links.c.endpoint),
                updated_at=now,
            ),
            [
                {
                    "b_source": r["source_id"],
                    "b_target": r["target_id"],
                    "b_attributes": r["attributes"],
                    "b_active": r["active"],
                    "b_matched_by": r.get("matched_by"),
                    "b_endpoint": r.get("endpoint"),
                }
                for r in changed
            ],
        )


def delete_links(conn: Connection, app: str, object_type: str, source_ids: Sequence[str]) -> None:
    """Forget deleted objects: their links, and for groups their member rows."""
    for chunk in chunks(source_ids, 500):
        conn.execute(
            delete(t.links).where(
                (t.links.c.app == app)
                & (t.links.c.object_type == object_type)
                & t.links.c.source_id.in_(chunk)
            )
        )
        if object_type == ObjectType.GROUP:
            conn.execute(
                delete(t.members).where((t.members.c.app == app) & t.members.c.group_source_id.in_(chunk))
            )


def endpoints(conn: Connection, app: str) -> dict[str | None, int]:
    """Endpoint -> number of links made in it (None: made before links recorded one)."""
    c = t.links.c
    return {
        row[0]: row[1]
        for row in conn.execute(select(c.endpoint, func.count()).where(c.app == app).group_by(c.endpoint))
    }


def retired_from(conn: Connection, app: str, endpoint: str) -> tuple[int, datetime | None]:
    """How many links made in ``endpoint`` a relink retired (and none brought back), and when."""
    r = t.retired_links.c
    count, latest = conn.execute(
        select(func.count(), func.max(r.retired_at)).where((r.app == app) & (r.endpoint == endpoint))
    ).one()
    return count, aware(latest)


def adopt_endpoint(conn: Connection, app: str, endpoint: str) -> int:
    """Links from before endpoints were recorded belong to the endpoint of their first check."""
    c = t.links.c
    return conn.execute(
        update(t.links).where((c.app == app) & c.endpoint.is_(None)).values(endpoint=endpoint)
    ).rowcount


def relink(conn: Connection, app: str, endpoint: str) -> tuple[int, int]:
    """A deliberate move to ``endpoint``: every link (and member baseline) is retired, and the
    links once made in ``endpoint`` come back. Returns (retired, restored)."""
    now = utcnow()
    current = [
        {**dict(zip(LINK_COLUMNS, r, strict=True)), "app": app, "endpoint": e or "", "retired_at": now}
        for *r, e in conn.execute(
            select(*(t.links.c[name] for name in LINK_COLUMNS), t.links.c.endpoint).where(
                t.links.c.app == app
            )
        )
    ]
    r = t.retired_links.c
    if current:  # an older retirement from the same endpoint is replaced
        conn.execute(
            delete(t.retired_links).where(
                (r.app == app)
                & (r.object_type == bindparam("b_type"))
                & (r.source_id == bindparam("b_source"))
                & (r.endpoint == bindparam("b_endpoint"))
            ),
            [
                {"b_type": x["object_type"], "b_source": x["source_id"], "b_endpoint": x["endpoint"]}
                for x in current
            ],
        )
    for chunk in chunks(current, 1000):
        conn.execute(insert(t.retired_links), chunk)
    conn.execute(delete(t.members).where(t.members.c.app == app))
    conn.execute(delete(t.links).where(t.links.c.app == app))
    here = (r.app == app) & (r.endpoint == endpoint)
    back = [
        {
            **dict(zip(LINK_COLUMNS, row, strict=True)),
            "app": app,
            "endpoint": endpoint,
            "created_at": now,
            "updated_at": now,
        }
        for row in conn.execute(select(*(r[name] for name in LINK_COLUMNS)).where(here))
    ]
    for chunk in chunks(back, 1000):
        conn.execute(insert(t.links), chunk)
    conn.execute(delete(t.retired_links).where(here))
    return len(current), len(back)


def members(conn: Connection, app: str) -> dict[str, dict[str, str]]:
    """Group source id -> {member source id: member app id}, as last applied."""
    c = t.members.c
    result: dict[str, dict[str, str]] = {}
    query = select(c.group_source_id, c.member_source_id, c.member_target_id).where(c.app == app)
    for group, member, target in conn.execute(query):
        result.setdefault(group, {})[member] = target
    return result


def replace_members(conn: Connection, app: str, groups: dict[str, dict[str, str]]) -> None:
    """Set the member baseline of these groups (a full reconcile read them from the app)."""
    c = t.members.c
    for group, current in groups.items():
        conn.execute(delete(t.members).where((c.app == app) & (c.group_source_id == group)))
        rows = [
            {"app": app, "group_source_id": group, "member_source_id": s, "member_target_id": m}
            for s, m in current.items()
        ]
        for chunk in chunks(rows, 1000):
            conn.execute(insert(t.members), chunk)


def apply_members(conn: Connection, app: str, row: OutboxRow, outcome: Outcome) -> None:
    """A membership action that succeeded moves the group's member baseline with it."""
    c = t.members.c
    group = (c.app == app) & (c.group_source_id == row.source_id)
    if row.action == Action.REPLACE_MEMBERS:
        conn.execute(delete(t.members).where(group))
    if row.action == Action.REMOVE_MEMBERS:
        for chunk in chunks([m[0] for m in row.payload["members"]], 500):
            conn.execute(delete(t.members).where(group & c.member_source_id.in_(chunk)))
        return
    added = outcome.members or []
    for chunk in chunks([m[0] for m in added], 500):
        conn.execute(delete(t.members).where(group & c.member_source_id.in_(chunk)))
    if added:
        conn.execute(
            insert(t.members),
            [
                {"app": app, "group_source_id": row.source_id, "member_source_id": s, "member_target_id": m}
                for s, m in added
            ],
        )
