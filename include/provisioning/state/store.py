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
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, case, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url

from provisioning.engine.plan import (
    DELETE,
    GROUP,
    MEMBERSHIP,
    REMOVE_MEMBERS,
    REPLACE_MEMBERS,
    USER,
    LinkState,
    PlannedAction,
)
from provisioning.engine.safety import escrow_delay, fingerprint
from provisioning.state import tables as t
from provisioning.state.holds import Holds
from provisioning.state.leases import Lease, Leases, fence
from provisioning.state.times import aware, utcnow

OPEN = ("pending", "in_flight")
# superseded by the next plan; an in_flight action is not: its request may be out, so the next
# cycle adopts it and verifies it instead of planning the object anew
SUPERSEDED = ("pending", "staged")
LOG_STATUS = {"succeeded": "success", "failed": "failure", "skipped": "skipped", "staged": "staged"}
# Ids are indexed: at 4 bytes a character, (app, type, id) stays under PostgreSQL's 2,704-byte
# btree entry limit. Codes and messages are only read by people: longer ones are cut, with a marker.
MAX_ID_LENGTH = 512
MAX_CODE_LENGTH = 128
MAX_MESSAGE_LENGTH = 4000
INVALID_APP_ID = "InvalidAppId"


@dataclass(frozen=True)
class OutboxRow:
    change_id: str
    object_type: str
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
    permanent: bool = False  # a failure the same request will hit again (escrow backs off longer)
    members: list[list[str]] | None = None  # membership actions: [source, app id] now in the group


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
        self.holds = Holds(self.engine)
        self.leases = Leases(self.engine)

    def create_schema(self) -> None:
        t.metadata.create_all(self.engine)

    # --- cycles ------------------------------------------------------------------------------

    def start_cycle(self, app: str, cycle_id: str) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(select(t.cycles.c.cycle_id).where(_cycle(t.cycles, app, cycle_id))).first()
            if exists:
                conn.execute(
                    update(t.cycles)
                    .where(_cycle(t.cycles, app, cycle_id))
                    .values(status="running", error=None, error_code=None)
                )
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

    def record_cycle_error(self, app: str, cycle_id: str, code: str, message: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.cycles)
                .where(_cycle(t.cycles, app, cycle_id))
                .values(error=clip(message, MAX_MESSAGE_LENGTH), error_code=code)
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

    def links(self, app: str, object_type: str = USER) -> dict[str, LinkState]:
        c = t.links.c
        query = select(c.source_id, c.target_id, c.attributes, c.active, c.disabled_at).where(
            (c.app == app) & (c.object_type == object_type)
        )
        with self.engine.connect() as conn:
            return {
                row[0]: LinkState(row[1], row[2] or {}, row[3], aware(row[4])) for row in conn.execute(query)
            }

    def count_links(self, app: str, object_type: str = USER) -> int:
        c = t.links.c
        query = select(func.count()).where((c.app == app) & (c.object_type == object_type))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def upsert_links(self, app: str, rows: Iterable[dict[str, Any]], object_type: str = USER) -> None:
        """Rows: source_id, target_id, matched_by, attributes, active, endpoint (where it was made)."""
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
                    disabled_at=case(  # unknown (NULL) is not disabled
                        (
                            active.is_(False),
                            func.coalesce(t.links.c.disabled_at, now),
                        ),
                        else_=None,
                    ),
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

    def endpoints(self, app: str) -> dict[str | None, int]:
        """Endpoint -> number of links made in it (None: made before links recorded one)."""
        c = t.links.c
        query = select(c.endpoint, func.count()).where(c.app == app).group_by(c.endpoint)
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def adopt_endpoint(self, app: str, endpoint: str) -> int:
        """Links from before endpoints were recorded belong to the endpoint of their first check."""
        c = t.links.c
        with self.engine.begin() as conn:
            return conn.execute(
                update(t.links).where((c.app == app) & c.endpoint.is_(None)).values(endpoint=endpoint)
            ).rowcount

    def relink(self, app: str, endpoint: str) -> tuple[int, int]:
        """A deliberate move to ``endpoint``: every link (and member baseline) is retired, and the
        links once made in ``endpoint`` come back. Returns (retired, restored)."""
        now = utcnow()
        columns = (
            "object_type",
            "source_id",
            "target_id",
            "matched_by",
            "attributes",
            "active",
            "disabled_at",
        )
        with self.engine.begin() as conn:
            current = [
                {**dict(zip(columns, r, strict=True)), "app": app, "endpoint": e or "", "retired_at": now}
                for *r, e in conn.execute(
                    select(*(t.links.c[name] for name in columns), t.links.c.endpoint).where(
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
            for chunk in _chunks(current, 1000):
                conn.execute(insert(t.retired_links), chunk)
            conn.execute(delete(t.members).where(t.members.c.app == app))
            conn.execute(delete(t.links).where(t.links.c.app == app))
            here = (r.app == app) & (r.endpoint == endpoint)
            back = [
                {
                    **dict(zip(columns, row, strict=True)),
                    "app": app,
                    "endpoint": endpoint,
                    "created_at": now,
                    "updated_at": now,
                }
                for row in conn.execute(select(*(r[name] for name in columns)).where(here))
            ]
            for chunk in _chunks(back, 1000):
                conn.execute(insert(t.links), chunk)
            conn.execute(delete(t.retired_links).where(here))
        return len(current), len(back)

    def delete_links(self, app: str, object_type: str, source_ids: list[str]) -> None:
        if source_ids:
            with self.engine.begin() as conn:
                self._delete_links(conn, app, object_type, source_ids)

    @staticmethod
    def _delete_links(conn, app: str, object_type: str, source_ids: list[str]) -> None:
        """Forget deleted objects: their links, and for groups their member rows."""
        for chunk in _chunks(source_ids, 500):
            conn.execute(
                delete(t.links).where(
                    (t.links.c.app == app)
                    & (t.links.c.object_type == object_type)
                    & t.links.c.source_id.in_(chunk)
                )
            )
            if object_type == GROUP:
                conn.execute(
                    delete(t.members).where((t.members.c.app == app) & t.members.c.group_source_id.in_(chunk))
                )

    # --- group members -----------------------------------------------------------------------

    def members(self, app: str) -> dict[str, dict[str, str]]:
        """Group source id -> {member source id: member app id}, as last applied."""
        c = t.members.c
        result: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            query = select(c.group_source_id, c.member_source_id, c.member_target_id).where(c.app == app)
            for group, member, target in conn.execute(query):
                result.setdefault(group, {})[member] = target
        return result

    def replace_members(self, app: str, groups: dict[str, dict[str, str]]) -> None:
        """Set the member baseline of these groups (a full reconcile read them from the app)."""
        c = t.members.c
        with self.engine.begin() as conn:
            for group, current in groups.items():
                conn.execute(delete(t.members).where((c.app == app) & (c.group_source_id == group)))
                rows = [
                    {"app": app, "group_source_id": group, "member_source_id": s, "member_target_id": m}
                    for s, m in current.items()
                ]
                for chunk in _chunks(rows, 1000):
                    conn.execute(insert(t.members), chunk)

    @staticmethod
    def _apply_members(conn, app: str, row: OutboxRow, outcome: Outcome) -> None:
        c = t.members.c
        group = (c.app == app) & (c.group_source_id == row.source_id)
        if row.action == REPLACE_MEMBERS:
            conn.execute(delete(t.members).where(group))
        if row.action == REMOVE_MEMBERS:
            for chunk in _chunks([m[0] for m in row.payload["members"]], 500):
                conn.execute(delete(t.members).where(group & c.member_source_id.in_(chunk)))
            return
        added = outcome.members or []
        for chunk in _chunks([m[0] for m in added], 500):
            conn.execute(delete(t.members).where(group & c.member_source_id.in_(chunk)))
        if added:
            conn.execute(
                insert(t.members),
                [
                    {
                        "app": app,
                        "group_source_id": row.source_id,
                        "member_source_id": s,
                        "member_target_id": m,
                    }
                    for s, m in added
                ],
            )

    # --- outbox ------------------------------------------------------------------------------

    def write_plan(
        self,
        app: str,
        cycle_id: str,
        actions: Sequence[PlannedAction],
        staged: frozenset[str] = frozenset(),
        staged_reason: str | None = None,
        lease: Lease | None = None,
    ) -> int:
        """Replace every pending or staged action of the app with this plan (the plan is recomputed
        from current state, so older work is superseded, never applied twice). Actions still
        in flight from an earlier cycle are adopted by this one, whose apply verifies them, and
        this plan's actions on the same objects wait for the next cycle. Actions whose change id
        is in ``staged`` are held for approval and logged as staged the first cycle they are held.
        Returns the number of adopted actions."""
        now = utcnow()
        rows = [
            {
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
                "modified": a.modified,
                "reason": a.reason,
                "approved_by": a.approved_by,
                "status": "staged" if a.change_id in staged else "pending",
                "attempts": 0,
                "error_message": staged_reason if a.change_id in staged else None,
                "created_at": now,
            }
            for seq, a in enumerate(actions)
        ]
        c = t.outbox.c
        with self.engine.begin() as conn:
            fence(conn, lease)
            in_flight = (c.app == app) & (c.status == "in_flight")
            busy = {tuple(r) for r in conn.execute(select(c.object_type, c.source_id).where(in_flight))}
            if busy:
                conn.execute(update(t.outbox).where(in_flight).values(cycle_id=cycle_id))
                rows = [r for r in rows if (r["object_type"], r["source_id"]) not in busy]
            # staged actions are logged when first held, not again every cycle they wait
            waiting = set(
                conn.execute(
                    select(c.object_type, c.source_id, c.action).where(
                        (c.app == app) & (c.status == "staged")
                    )
                ).all()
            )
            conn.execute(
                update(t.outbox)
                .where((c.app == app) & c.status.in_(SUPERSEDED))
                .values(status="superseded", finished_at=now)
            )
            for chunk in _chunks(rows, 1000):
                conn.execute(insert(t.outbox), chunk)
            held = [
                r
                for r in rows
                if r["status"] == "staged" and (r["object_type"], r["source_id"], r["action"]) not in waiting
            ]
            for chunk in _chunks(held, 1000):
                conn.execute(
                    insert(t.provisioning_log),
                    [
                        _log_row(
                            r,
                            now,
                            status="staged",
                            target_id=r["target_id"],
                            modified_properties=r["modified"],
                            detail=r["reason"],
                            error_code="AccidentalDeletionThreshold",
                            error_message=staged_reason,
                        )
                        for r in chunk
                    ],
                )
        return len(busy)

    def record_skips(
        self,
        app: str,
        cycle_id: str,
        skips: Iterable[tuple[str, str, str, str]],
        object_type: str = USER,
        log_only: bool = False,
    ) -> int:
        """Skipped objects (conflicts, missing values, disallowed actions): outbox + log rows.
        ``log_only``: a note on an object that is still provisioned (e.g. members left out)."""
        now = utcnow()
        c = t.outbox.c
        key = (c.app == app) & (c.cycle_id == cycle_id) & (c.object_type == object_type)
        rows = []
        with self.engine.begin() as conn:
            if log_only:  # one note per object and kind of note
                already = {
                    tuple(r)
                    for r in conn.execute(
                        select(t.provisioning_log.c.source_id, t.provisioning_log.c.error_code).where(
                            (t.provisioning_log.c.app == app)
                            & (t.provisioning_log.c.cycle_id == cycle_id)
                            & (t.provisioning_log.c.object_type == object_type)
                            & (t.provisioning_log.c.action == "note")
                        )
                    )
                }
            else:
                already = {
                    r[0] for r in conn.execute(select(c.source_id).where(key & (c.status == "skipped")))
                }
            for source_id, display, code, reason in skips:
                key_ = (source_id, code) if log_only else source_id
                if key_ in already:
                    continue
                already.add(key_)
                rows.append(
                    {
                        "change_id": uuid.uuid4().hex,
                        "app": app,
                        "cycle_id": cycle_id,
                        "seq": -1,
                        "phase": 0,
                        "object_type": object_type,
                        "source_id": source_id,
                        "display": display,
                        "action": "note" if log_only else "skip",
                        "status": "skipped",
                        "attempts": 0,
                        "error_code": clip(code, MAX_CODE_LENGTH),
                        "error_message": clip(reason, MAX_MESSAGE_LENGTH),
                        "created_at": now,
                        "finished_at": now,
                    }
                )
            for chunk in _chunks(rows, 1000):
                if not log_only:
                    conn.execute(insert(t.outbox), chunk)
                conn.execute(
                    insert(t.provisioning_log),
                    [
                        _log_row(
                            r,
                            now,
                            status="skipped",
                            error_code=r["error_code"],
                            error_message=r["error_message"],
                        )
                        for r in chunk
                    ],
                )
        return len(rows)

    def add_log_rows(self, app: str, cycle_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Log rows with no outbox action behind them: a dry run's plan, an on-demand trace."""
        now = utcnow()
        full = [
            {"change_id": uuid.uuid4().hex, "app": app, "cycle_id": cycle_id, "time": now, **r} for r in rows
        ]
        with self.engine.begin() as conn:
            for chunk in _chunks(full, 1000):
                conn.execute(insert(t.provisioning_log), chunk)

    def skipped_sources(self, app: str, cycle_id: str, object_type: str = USER) -> set[str]:
        c = t.outbox.c
        key = (
            (c.app == app)
            & (c.cycle_id == cycle_id)
            & (c.status == "skipped")
            & (c.object_type == object_type)
        )
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(c.source_id).where(key))}

    def open_actions(self, app: str, cycle_id: str) -> list[OutboxRow]:
        query = (
            select(t.outbox)
            .where((t.outbox.c.app == app) & (t.outbox.c.cycle_id == cycle_id) & t.outbox.c.status.in_(OPEN))
            .order_by(t.outbox.c.phase, t.outbox.c.seq)
        )
        with self.engine.connect() as conn:
            return [
                OutboxRow(
                    r.change_id,
                    r.object_type,
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

    def mark_in_flight(self, change_ids: Sequence[str], lease: Lease | None = None) -> None:
        """Written before the requests go out: a crash leaves them in_flight, to be verified on resume.
        Refused (LeaseLost) when another attempt has taken the app's lease: nothing is sent then."""
        with self.engine.begin() as conn:
            fence(conn, lease)
            for chunk in _chunks(list(change_ids), 500):
                conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.change_id.in_(chunk))
                    .values(status="in_flight", attempts=t.outbox.c.attempts + 1)
                )

    def record_outcomes(
        self,
        app: str,
        cycle_id: str,
        rows: dict[str, OutboxRow],
        outcomes: Sequence[Outcome],
        lease: Lease | None = None,
        endpoint: str | None = None,
    ) -> None:
        """One transaction: outbox status, links (made in ``endpoint``) and members of successes,
        escrow, and log rows."""
        if not outcomes:
            return
        now = utcnow()
        with self.engine.begin() as conn:
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
                        # refused credentials are not the object's fault: the action waits for a rerun
                        "b_status": "pending" if o.stops_cycle else o.status,
                        "b_target": o.target_id or rows[o.change_id].target_id,
                        "b_code": o.error_code,
                        "b_message": o.error_message,
                    }
                    for o in outcomes
                ],
            )
            links: dict[str, list[dict[str, Any]]] = {USER: [], GROUP: []}
            deleted: dict[str, list[str]] = {USER: [], GROUP: []}
            for o in outcomes:
                row = rows[o.change_id]
                if o.status != "succeeded":
                    continue
                if row.object_type == MEMBERSHIP:
                    self._apply_members(conn, app, row, o)
                elif (o.action or row.action) == DELETE:
                    deleted[row.object_type].append(row.source_id)
                else:
                    links[row.object_type].append(
                        {
                            "source_id": row.source_id,
                            "target_id": o.target_id or row.target_id,
                            "matched_by": o.matched_by,
                            "attributes": o.attributes if o.attributes is not None else row.attributes,
                            "active": o.active if o.active is not None else row.active,
                            "endpoint": endpoint,
                        }
                    )
            for object_type in (USER, GROUP):
                self._upsert_links(conn, app, object_type, links[object_type])
                self._delete_links(conn, app, object_type, deleted[object_type])
            escrowed = self._update_escrow(conn, app, rows, outcomes, now)
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
                        "object_type": rows[o.change_id].object_type,
                        "source_id": rows[o.change_id].source_id,
                        "source_display": rows[o.change_id].display,
                        "target_id": o.target_id or rows[o.change_id].target_id,
                        "action": o.action or rows[o.change_id].action,
                        "status": LOG_STATUS[o.status],
                        "modified_properties": o.modified
                        if o.modified is not None
                        else rows[o.change_id].modified,
                        "detail": _join(o.detail or rows[o.change_id].reason, escrowed.get(o.change_id)),
                        "error_code": o.error_code,
                        "error_message": o.error_message,
                        "duration_ms": o.duration_ms,
                    }
                    for o in outcomes
                ],
            )

    def outbox_counts(self, app: str, cycle_id: str) -> Counter:
        """(object type, action, status) -> number of actions of the cycle."""
        c = t.outbox.c
        query = (
            select(c.object_type, c.action, c.status, func.count())
            .where((c.app == app) & (c.cycle_id == cycle_id))
            .group_by(c.object_type, c.action, c.status)
        )
        with self.engine.connect() as conn:
            return Counter({(o, a, s): n for o, a, s, n in conn.execute(query)})

    # --- escrow ------------------------------------------------------------------------------

    @staticmethod
    def _update_escrow(
        conn, app: str, rows: dict[str, OutboxRow], outcomes: Sequence[Outcome], now: datetime
    ) -> dict[str, str]:
        """Failures enter (or stay in) escrow with a growing backoff; successes leave it.
        Returns a note per failed change id for the provisioning log."""
        c = t.escrow.c
        notes: dict[str, str] = {}
        for o in outcomes:
            row = rows[o.change_id]
            if o.status == "succeeded":
                key = (c.app == app) & (c.object_type == row.object_type) & (c.source_id == row.source_id)
                conn.execute(delete(t.escrow).where(key))
                continue
            if o.status != "failed" or o.stops_cycle:
                continue  # a refused app is quarantine's business, not this object's
            notes[o.change_id] = _escrow_failure(
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

    def escrow_failure(
        self,
        app: str,
        object_type: str,
        source_id: str,
        display: str,
        fingerprint: str,
        permanent: bool,
        code: str | None,
        message: str,
    ) -> str:
        """A failure outside the outbox (an object's lookup in the app): the same escrow backoff."""
        code, message = clip(code, MAX_CODE_LENGTH), clip(message, MAX_MESSAGE_LENGTH)
        with self.engine.begin() as conn:
            return _escrow_failure(
                conn, app, object_type, source_id, display, fingerprint, permanent, code, message, utcnow()
            )

    def leave_escrow(
        self, app: str, object_type: str, source_ids: Iterable[str], fingerprints: set[str]
    ) -> None:
        """Objects whose escrowed failure (one of ``fingerprints``) no longer happens."""
        c = t.escrow.c
        with self.engine.begin() as conn:
            for chunk in _chunks(list(source_ids), 500):
                conn.execute(
                    delete(t.escrow).where(
                        (c.app == app)
                        & (c.object_type == object_type)
                        & c.source_id.in_(chunk)
                        & c.fingerprint.in_(fingerprints)
                    )
                )

    def escrow(self, app: str) -> dict[tuple[str, str], dict[str, Any]]:
        """(object type, source id) -> escrow row."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.escrow).where(t.escrow.c.app == app)).mappings()
            return {
                (r["object_type"], r["source_id"]): {
                    **r,
                    "next_retry_at": aware(r["next_retry_at"]),
                }
                for r in rows
            }

    def clear_escrow(self, app: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(t.escrow).where(t.escrow.c.app == app)).rowcount

    # --- app status: quarantine and the directory-size guard ----------------------------------

    def app_status(self, app: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.app_status).where(t.app_status.c.app == app)).mappings().first()
        if row is None:
            return {
                "app": app,
                "quarantined": False,
                "quarantine_level": 0,
                "retry_at": None,
            }
        return {
            **row,
            "retry_at": aware(row["retry_at"]),
            "quarantined_since": aware(row["quarantined_since"]),
        }

    def update_app_status(self, app: str, **values: Any) -> None:
        with self.engine.begin() as conn:
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

    # --- alerts ------------------------------------------------------------------------------

    def add_alert(self, app: str, cycle_id: str, kind: str, message: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.alerts).values(app=app, cycle_id=cycle_id, time=utcnow(), kind=kind, message=message)
            )

    def alerts(self, app: str, cycle_id: str | None = None) -> list[dict[str, Any]]:
        query = select(t.alerts).where(t.alerts.c.app == app).order_by(t.alerts.c.id)
        if cycle_id is not None:
            query = query.where(t.alerts.c.cycle_id == cycle_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def notifications(self, app: str) -> dict[str, dict[str, Any]]:
        """Problem -> its notification state (open, last_sent, times_sent)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.notifications).where(t.notifications.c.app == app)).mappings()
            return {
                r["problem"]: {
                    **r,
                    "last_sent": aware(r["last_sent"]),
                    "first_seen": aware(r["first_seen"]),
                }
                for r in rows
            }

    def save_notification(self, app: str, problem: str, **values: Any) -> None:
        key = (t.notifications.c.app == app) & (t.notifications.c.problem == problem)
        with self.engine.begin() as conn:
            if conn.execute(select(t.notifications.c.app).where(key)).first():
                conn.execute(update(t.notifications).where(key).values(**values))
            else:
                conn.execute(insert(t.notifications).values(app=app, problem=problem, **values))

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

    # --- filters the app refuses -------------------------------------------------------------

    def refused_filters(self, app: str, object_type: str, since: datetime) -> set[str]:
        """Filter attributes the app refused (400) after ``since``."""
        c = t.refused_filters.c
        query = select(c.attribute).where(
            (c.app == app) & (c.object_type == object_type) & (c.refused_at > since)
        )
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(query)}

    def refuse_filter(self, app: str, object_type: str, attribute: str, error: str) -> None:
        """Remember (or refresh) that the app refuses filters on ``attribute``."""
        c = t.refused_filters.c
        key = (c.app == app) & (c.object_type == object_type) & (c.attribute == attribute)
        with self.engine.begin() as conn:
            conn.execute(delete(t.refused_filters).where(key))
            conn.execute(
                insert(t.refused_filters).values(
                    app=app, object_type=object_type, attribute=attribute, refused_at=utcnow(), error=error
                )
            )


def app_id_problem(target_id: str) -> str | None:
    """Why an id the app returned cannot be linked, if it cannot: that object fails, not the step."""
    if len(target_id) <= MAX_ID_LENGTH:
        return None
    return f"the app returned an id of {len(target_id)} characters (more than {MAX_ID_LENGTH}): not linked"


def clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


def storable(outcome: Outcome) -> Outcome:
    """What the app sent back, made fit to record: an id too long to index fails the object
    (permanently: the same request gets the same id); codes, messages and details are clipped."""
    problem = app_id_problem(outcome.target_id) if outcome.target_id else None
    if problem:
        outcome = replace(
            outcome,
            status="failed",
            target_id=None,
            error_code=INVALID_APP_ID,
            error_message=problem,
            permanent=True,
        )
    return replace(
        outcome,
        error_code=clip(outcome.error_code, MAX_CODE_LENGTH),
        error_message=clip(outcome.error_message, MAX_MESSAGE_LENGTH),
        detail=clip(outcome.detail, MAX_MESSAGE_LENGTH),
    )


def action_fingerprint(object_type: str, action: str, payload: Any) -> str:
    """Membership batches change with every member: their escrow is per group and action."""
    return fingerprint(action, None if object_type == MEMBERSHIP else payload)


def _escrow_failure(
    conn,
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
    c = t.escrow.c
    key = (c.app == app) & (c.object_type == object_type) & (c.source_id == source_id)
    current = conn.execute(select(c.failures).where(key)).first()
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


def _log_row(row: dict[str, Any], now: datetime, **fields: Any) -> dict[str, Any]:
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


def _join(*parts: str | None) -> str | None:
    return "; ".join(p for p in parts if p) or None


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
