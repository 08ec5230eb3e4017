"""The state store API the cycle steps use. All writes of one step are batched in transactions.

SQLite is opened in WAL mode with a busy timeout so that several apps' DAGs can share one file
in the demo; production points the ``provisioning_state`` connection at PostgreSQL.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url

from provisioning.engine.plan import LinkState, PlannedAction
from provisioning.state import tables as t

OPEN = ("pending", "in_flight")
LOG_STATUS = {"succeeded": "success", "failed": "failure", "skipped": "skipped"}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OutboxRow:
    change_id: str
    source_id: str
    display: str
    target_id: str | None
    action: str
    payload: dict[str, Any] | None
    attributes: dict[str, Any]
    active: bool
    modified: list[dict[str, Any]]
    reason: str | None
    status: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """The result of one outbox action; on success the link/snapshot is updated with it."""

    change_id: str
    status: str  # succeeded | failed
    target_id: str | None = None
    matched_by: str | None = None
    attributes: dict[str, Any] | None = None
    active: bool | None = None
    action: str | None = None  # when the action became another (create -> update after a 409)
    modified: list[dict[str, Any]] | None = None
    detail: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    duration_ms: float | None = None
    stops_cycle: bool = False  # the app is unusable (bad credentials, not SCIM): stop sending


class StateStore:
    def __init__(self, url_or_engine: str | Engine):
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            url = make_url(url_or_engine)
            sqlite = url.get_backend_name() == "sqlite"
            self.engine = create_engine(url, connect_args={"timeout": 60} if sqlite else {})
            if sqlite:
                event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        t.metadata.create_all(self.engine)

    # --- cycles ------------------------------------------------------------------------------

    def start_cycle(self, app: str, cycle_id: str) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(select(t.cycles.c.cycle_id).where(_cycle(t.cycles, app, cycle_id))).first()
            if exists:
                conn.execute(update(t.cycles).where(_cycle(t.cycles, app, cycle_id)).values(status="running"))
            else:
                conn.execute(
                    insert(t.cycles).values(app=app, cycle_id=cycle_id, started_at=utcnow(), status="running")
                )

    def finish_cycle(self, app: str, cycle_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.cycles)
                .where(_cycle(t.cycles, app, cycle_id))
                .values(status=status, summary=summary, finished_at=utcnow())
            )

    def cycle(self, app: str, cycle_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.cycles).where(_cycle(t.cycles, app, cycle_id))).mappings().first()
        return dict(row) if row else None

    # --- artifacts ---------------------------------------------------------------------------

    def put_artifact(self, app: str, cycle_id: str, name: str, value: Any) -> int:
        data = gzip.compress(json.dumps(value, separators=(",", ":")).encode(), compresslevel=3)
        key = (t.artifacts.c.app == app) & (t.artifacts.c.cycle_id == cycle_id) & (t.artifacts.c.name == name)
        with self.engine.begin() as conn:
            conn.execute(delete(t.artifacts).where(key))
            conn.execute(
                insert(t.artifacts).values(
                    app=app, cycle_id=cycle_id, name=name, data=data, created_at=utcnow()
                )
            )
            # keep only recent cycles' artifacts: they are hand-overs, not history
            old = (
                select(t.artifacts.c.cycle_id)
                .where(t.artifacts.c.app == app)
                .group_by(t.artifacts.c.cycle_id)
            )
            old = old.order_by(func.max(t.artifacts.c.created_at).desc()).offset(5)
            stale = [r[0] for r in conn.execute(old)]
            if stale:
                conn.execute(
                    delete(t.artifacts).where((t.artifacts.c.app == app) & t.artifacts.c.cycle_id.in_(stale))
                )
        return len(data)

    def get_artifact(self, app: str, cycle_id: str, name: str) -> Any:
        key = (t.artifacts.c.app == app) & (t.artifacts.c.cycle_id == cycle_id) & (t.artifacts.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(select(t.artifacts.c.data).where(key)).first()
        if row is None:
            raise LookupError(
                f"no {name!r} data stored for cycle {cycle_id!r} of app {app!r}: rerun the earlier steps"
            )
        return json.loads(gzip.decompress(row[0]))

    # --- links -------------------------------------------------------------------------------

    def links(self, app: str, object_type: str = "user") -> dict[str, LinkState]:
        query = select(
            t.links.c.source_id, t.links.c.target_id, t.links.c.attributes, t.links.c.active
        ).where((t.links.c.app == app) & (t.links.c.object_type == object_type))
        with self.engine.connect() as conn:
            return {row[0]: LinkState(row[1], row[2] or {}, bool(row[3])) for row in conn.execute(query)}

    def upsert_links(self, app: str, rows: Iterable[dict[str, Any]], object_type: str = "user") -> None:
        """Rows: source_id, target_id, matched_by, attributes, active."""
        with self.engine.begin() as conn:
            self._upsert_links(conn, app, object_type, list(rows))

    @staticmethod
    def _upsert_links(conn, app: str, object_type: str, rows: list[dict[str, Any]]) -> None:
        """Insert new links and update existing ones, each as one executemany."""
        if not rows:
            return
        now = utcnow()
        key = (t.links.c.app == app) & (t.links.c.object_type == object_type)
        sources = [r["source_id"] for r in rows]
        existing = {
            r[0]
            for chunk in _chunks(sources, 500)
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
                        "created_at": now,
                        "updated_at": now,
                    }
                    for r in new
                ],
            )
        changed = [r for r in rows if r["source_id"] in existing]
        if changed:
            conn.execute(
                update(t.links)
                .where(key & (t.links.c.source_id == bindparam("b_source")))
                .values(
                    target_id=bindparam("b_target"),
                    attributes=bindparam("b_attributes"),
                    active=bindparam("b_active"),
                    matched_by=func.coalesce(bindparam("b_matched_by"), t.links.c.matched_by),
                    updated_at=now,
                ),
                [
                    {
                        "b_source": r["source_id"],
                        "b_target": r["target_id"],
                        "b_attributes": r["attributes"],
                        "b_active": r["active"],
                        "b_matched_by": r.get("matched_by"),
                    }
                    for r in changed
                ],
            )

    # --- outbox ------------------------------------------------------------------------------

    def write_plan(self, app: str, cycle_id: str, actions: Sequence[PlannedAction]) -> None:
        """Replace every unfinished action of the app with this plan (the plan is recomputed from
        current state, so older pending work is superseded, never applied twice)."""
        now = utcnow()
        rows = [
            {
                "change_id": a.change_id,
                "app": app,
                "cycle_id": cycle_id,
                "seq": seq,
                "object_type": "user",
                "source_id": a.source_id,
                "display": a.display,
                "target_id": a.target_id,
                "action": a.action,
                "payload": a.payload,
                "attributes": a.attributes,
                "active": a.active,
                "modified": a.modified,
                "reason": a.reason,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for seq, a in enumerate(actions)
        ]
        with self.engine.begin() as conn:
            conn.execute(
                update(t.outbox)
                .where((t.outbox.c.app == app) & t.outbox.c.status.in_(OPEN))
                .values(status="superseded", finished_at=now)
            )
            for chunk in _chunks(rows, 1000):
                conn.execute(insert(t.outbox), chunk)

    def record_skips(self, app: str, cycle_id: str, skips: Iterable[tuple[str, str, str, str]]) -> int:
        """Skipped objects (conflicts, missing values, disallowed actions): outbox + log rows."""
        now = utcnow()
        key = (t.outbox.c.app == app) & (t.outbox.c.cycle_id == cycle_id) & (t.outbox.c.status == "skipped")
        rows = []
        with self.engine.begin() as conn:
            already = {r[0] for r in conn.execute(select(t.outbox.c.source_id).where(key))}
            for source_id, display, code, reason in skips:
                if source_id in already:
                    continue
                already.add(source_id)
                rows.append(
                    {
                        "change_id": uuid.uuid4().hex,
                        "app": app,
                        "cycle_id": cycle_id,
                        "seq": -1,
                        "object_type": "user",
                        "source_id": source_id,
                        "display": display,
                        "action": "skip",
                        "status": "skipped",
                        "attempts": 0,
                        "error_code": code,
                        "error_message": reason,
                        "created_at": now,
                        "finished_at": now,
                    }
                )
            for chunk in _chunks(rows, 1000):
                conn.execute(insert(t.outbox), chunk)
                conn.execute(
                    insert(t.provisioning_log),
                    [
                        {
                            "change_id": r["change_id"],
                            "app": app,
                            "cycle_id": cycle_id,
                            "time": now,
                            "object_type": "user",
                            "source_id": r["source_id"],
                            "source_display": r["display"],
                            "action": "skip",
                            "status": "skipped",
                            "error_code": r["error_code"],
                            "error_message": r["error_message"],
                        }
                        for r in chunk
                    ],
                )
        return len(rows)

    def skipped_sources(self, app: str, cycle_id: str) -> set[str]:
        key = (t.outbox.c.app == app) & (t.outbox.c.cycle_id == cycle_id) & (t.outbox.c.status == "skipped")
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(t.outbox.c.source_id).where(key))}

    def open_actions(self, app: str, cycle_id: str) -> list[OutboxRow]:
        query = (
            select(t.outbox)
            .where((t.outbox.c.app == app) & (t.outbox.c.cycle_id == cycle_id) & t.outbox.c.status.in_(OPEN))
            .order_by(t.outbox.c.seq)
        )
        with self.engine.connect() as conn:
            return [
                OutboxRow(
                    r.change_id,
                    r.source_id,
                    r.display,
                    r.target_id,
                    r.action,
                    r.payload,
                    r.attributes or {},
                    bool(r.active),
                    r.modified or [],
                    r.reason,
                    r.status,
                    r.attempts,
                )
                for r in conn.execute(query)
            ]

    def mark_in_flight(self, change_ids: Sequence[str]) -> None:
        """Written before the requests go out: a crash leaves them in_flight, to be verified on resume."""
        with self.engine.begin() as conn:
            for chunk in _chunks(list(change_ids), 500):
                conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.change_id.in_(chunk))
                    .values(status="in_flight", attempts=t.outbox.c.attempts + 1)
                )

    def record_outcomes(
        self, app: str, cycle_id: str, rows: dict[str, OutboxRow], outcomes: Sequence[Outcome]
    ) -> None:
        """One transaction: outbox status, link/snapshot of successes, and their log rows."""
        if not outcomes:
            return
        now = utcnow()
        with self.engine.begin() as conn:
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
                        "b_status": o.status,
                        "b_target": o.target_id or rows[o.change_id].target_id,
                        "b_code": o.error_code,
                        "b_message": o.error_message,
                    }
                    for o in outcomes
                ],
            )
            link_rows = []
            for o in outcomes:
                row = rows[o.change_id]
                if o.status == "succeeded":
                    link_rows.append(
                        {
                            "source_id": row.source_id,
                            "target_id": o.target_id or row.target_id,
                            "matched_by": o.matched_by,
                            "attributes": o.attributes if o.attributes is not None else row.attributes,
                            "active": o.active if o.active is not None else row.active,
                        }
                    )
            self._upsert_links(conn, app, "user", link_rows)
            change_ids = [o.change_id for o in outcomes]
            conn.execute(delete(t.provisioning_log).where(t.provisioning_log.c.change_id.in_(change_ids)))
            conn.execute(
                insert(t.provisioning_log),
                [
                    {
                        "change_id": o.change_id,
                        "app": app,
                        "cycle_id": cycle_id,
                        "time": now,
                        "object_type": "user",
                        "source_id": rows[o.change_id].source_id,
                        "source_display": rows[o.change_id].display,
                        "target_id": o.target_id or rows[o.change_id].target_id,
                        "action": o.action or rows[o.change_id].action,
                        "status": LOG_STATUS[o.status],
                        "modified_properties": o.modified
                        if o.modified is not None
                        else rows[o.change_id].modified,
                        "detail": o.detail or rows[o.change_id].reason,
                        "error_code": o.error_code,
                        "error_message": o.error_message,
                        "duration_ms": o.duration_ms,
                    }
                    for o in outcomes
                ],
            )

    def outbox_counts(self, app: str, cycle_id: str) -> Counter:
        query = (
            select(t.outbox.c.action, t.outbox.c.status, func.count())
            .where((t.outbox.c.app == app) & (t.outbox.c.cycle_id == cycle_id))
            .group_by(t.outbox.c.action, t.outbox.c.status)
        )
        with self.engine.connect() as conn:
            return Counter({(a, s): n for a, s, n in conn.execute(query)})

    # --- provisioning log --------------------------------------------------------------------

    def log(self, app: str, cycle_id: str | None = None) -> list[dict[str, Any]]:
        query = (
            select(t.provisioning_log)
            .where(t.provisioning_log.c.app == app)
            .order_by(t.provisioning_log.c.id)
        )
        if cycle_id is not None:
            query = query.where(t.provisioning_log.c.cycle_id == cycle_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _cycle(table, app: str, cycle_id: str):
    return (table.c.app == app) & (table.c.cycle_id == cycle_id)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
