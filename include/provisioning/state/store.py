"""The state store as the cycle steps and the Provisioning page use it: one object per store,
whose methods open the transaction and hand its connection to the module of the concern
(``cycles``, ``links``, ``outbox``, ``escrow``, ``app_status``, ``provisioning_log``).

A method is one transaction: what must change together (an outcome with its link, members,
escrow entry and log row) is one method. SQLite is opened in WAL mode with a busy timeout so that
several apps' DAGs can share one file in the demo; production points the ``provisioning_state``
connection at PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.plan import LinkState, PlannedAction, Skip
from provisioning.engine.vocabulary import ObjectType
from provisioning.state import app_status, cycles, escrow, json_codec, links, outbox, provisioning_log
from provisioning.state.bounds import MAX_CODE_LENGTH, MAX_MESSAGE_LENGTH, clip
from provisioning.state.holds import Holds
from provisioning.state.leases import Lease, Leases
from provisioning.state.provisioning_log import PAGE_MAX, LogFilter
from provisioning.state.times import utcnow


class StateStore:
    def __init__(self, url_or_engine: str | Engine):
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            url = make_url(url_or_engine)
            sqlite = url.get_backend_name() == "sqlite"
            self.engine = create_engine(
                url,
                connect_args={"timeout": 60} if sqlite else {},
                json_serializer=json_codec.dumps,
                json_deserializer=json_codec.loads,
            )
            if sqlite:
                event.listen(self.engine, "connect", _sqlite_pragmas)
        self.holds = Holds(self.engine)
        self.leases = Leases(self.engine)

    # --- cycles and artifacts -------------------------------------------------------------------

    def start_cycle(self, app: str, cycle_id: str) -> None:
        with self.engine.begin() as conn:
            cycles.start_cycle(conn, app, cycle_id)

    def finish_cycle(self, app: str, cycle_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            cycles.finish_cycle(conn, app, cycle_id, status, summary)

    def record_cycle_error(self, app: str, cycle_id: str, code: str, message: str) -> None:
        with self.engine.begin() as conn:
            cycles.record_cycle_error(conn, app, cycle_id, code, message)

    def cycle(self, app: str, cycle_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return cycles.cycle(conn, app, cycle_id)

    def recent_cycles(self, app: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return cycles.recent_cycles(conn, app, limit)

    def cycle_totals(self, app: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return cycles.cycle_totals(conn, app, limit)

    def put_artifact(self, app: str, cycle_id: str, name: str, value: Any) -> int:
        """Store (or replace) one hand-over; returns its compressed size."""
        return self._put_artifact(app, cycle_id, name, cycles.encode(value))

    def put_artifact_items(self, app: str, cycle_id: str, name: str, items: Iterable[Any]) -> int:
        """Store a list given one item at a time (a generator): read back with ``artifact_items``
        or ``get_artifact`` like one stored whole, but never held whole while it is written."""
        return self._put_artifact(app, cycle_id, name, cycles.encode_items(items))

    def _put_artifact(self, app: str, cycle_id: str, name: str, data: bytes) -> int:
        # encoded before the transaction: it holds the store's write lock
        with self.engine.begin() as conn:
            return cycles.put_artifact(conn, app, cycle_id, name, data)

    def get_artifact(self, app: str, cycle_id: str, name: str) -> Any:
        with self.engine.connect() as conn:
            return cycles.get_artifact(conn, app, cycle_id, name)

    def artifact_items(self, app: str, cycle_id: str, name: str) -> Iterator[Any]:
        with self.engine.connect() as conn:
            return cycles.artifact_items(conn, app, cycle_id, name)

    # --- links and members ----------------------------------------------------------------------

    def links(self, app: str, object_type: str = ObjectType.USER) -> dict[str, LinkState]:
        with self.engine.connect() as conn:
            return links.links(conn, app, object_type)

    def link_targets(self, app: str, object_type: str = ObjectType.USER) -> dict[str, str]:
        with self.engine.connect() as conn:
            return links.link_targets(conn, app, object_type)

    def count_links(self, app: str, object_type: str = ObjectType.USER) -> int:
        with self.engine.connect() as conn:
            return links.count_links(conn, app, object_type)

    def upsert_links(
        self, app: str, rows: Iterable[dict[str, Any]], object_type: str = ObjectType.USER
    ) -> None:
        """Rows: source_id, target_id, matched_by, attributes, active, endpoint (where it was made)."""
        with self.engine.begin() as conn:
            links.upsert_links(conn, app, object_type, list(rows))

    def delete_links(self, app: str, object_type: str, source_ids: list[str]) -> None:
        if source_ids:
            with self.engine.begin() as conn:
                links.delete_links(conn, app, object_type, source_ids)

    def endpoints(self, app: str) -> dict[str | None, int]:
        with self.engine.connect() as conn:
            return links.endpoints(conn, app)

    def retired_from(self, app: str, endpoint: str) -> tuple[int, datetime | None]:
        with self.engine.connect() as conn:
            return links.retired_from(conn, app, endpoint)

    def adopt_endpoint(self, app: str, endpoint: str) -> int:
        with self.engine.begin() as conn:
            return links.adopt_endpoint(conn, app, endpoint)

    def relink(self, app: str, endpoint: str) -> tuple[int, int]:
        with self.engine.begin() as conn:
            return links.relink(conn, app, endpoint)

    def members(self, app: str) -> dict[str, dict[str, str]]:
        with self.engine.connect() as conn:
            return links.members(conn, app)

    def replace_members(self, app: str, groups: dict[str, dict[str, str]]) -> None:
        with self.engine.begin() as conn:
            links.replace_members(conn, app, groups)

    # --- outbox ---------------------------------------------------------------------------------

    def write_plan(
        self,
        app: str,
        cycle_id: str,
        actions: Sequence[PlannedAction],
        staged: frozenset[str] = frozenset(),
        staged_reason: str | None = None,
        lease: Lease | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            return outbox.write_plan(conn, app, cycle_id, actions, staged, staged_reason, lease)

    def record_skips(
        self,
        app: str,
        cycle_id: str,
        skips: Iterable[Skip],
        object_type: str = ObjectType.USER,
        log_only: bool = False,
    ) -> int:
        with self.engine.begin() as conn:
            return outbox.record_skips(conn, app, cycle_id, skips, object_type, log_only)

    def skipped_sources(self, app: str, cycle_id: str, object_type: str = ObjectType.USER) -> set[str]:
        with self.engine.connect() as conn:
            return outbox.skipped_sources(conn, app, cycle_id, object_type)

    def open_actions(self, app: str, cycle_id: str) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            return outbox.open_actions(conn, app, cycle_id)

    def mark_in_flight(self, change_ids: Sequence[str], lease: Lease | None = None) -> None:
        with self.engine.begin() as conn:
            outbox.mark_in_flight(conn, change_ids, lease)

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
        if outcomes:
            with self.engine.begin() as conn:
                outbox.record_outcomes(conn, app, cycle_id, rows, outcomes, lease, endpoint)

    def outbox_counts(self, app: str, cycle_id: str) -> Counter:
        with self.engine.connect() as conn:
            return outbox.outbox_counts(conn, app, cycle_id)

    # --- escrow ---------------------------------------------------------------------------------

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
            return escrow.record_failure(
                conn, app, object_type, source_id, display, fingerprint, permanent, code, message, utcnow()
            )

    def leave_escrow(
        self, app: str, object_type: str, source_ids: Iterable[str], fingerprints: set[str]
    ) -> None:
        with self.engine.begin() as conn:
            escrow.leave_escrow(conn, app, object_type, source_ids, fingerprints)

    def escrow(self, app: str) -> dict[tuple[str, str], dict[str, Any]]:
        with self.engine.connect() as conn:
            return escrow.escrow(conn, app)

    def clear_escrow(self, app: str) -> int:
        with self.engine.begin() as conn:
            return escrow.clear_escrow(conn, app)

    # --- app status, alerts, notifications, refused filters -------------------------------------

    def app_status(self, app: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return app_status.app_status(conn, app)

    def update_app_status(self, app: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            app_status.update_app_status(conn, app, **values)

    def open_counts(self, app: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            return app_status.open_counts(conn, app)

    def add_alert(self, app: str, cycle_id: str, kind: str, message: str) -> None:
        with self.engine.begin() as conn:
            app_status.add_alert(conn, app, cycle_id, kind, message)

    def alerts(self, app: str, cycle_id: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return app_status.alerts(conn, app, cycle_id)

    def notifications(self, app: str) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return app_status.notifications(conn, app)

    def save_notification(self, app: str, problem: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            app_status.save_notification(conn, app, problem, **values)

    def refused_filters(self, app: str, object_type: str, since: datetime) -> set[str]:
        with self.engine.connect() as conn:
            return app_status.refused_filters(conn, app, object_type, since)

    def refuse_filter(self, app: str, object_type: str, attribute: str, error: str) -> None:
        with self.engine.begin() as conn:
            app_status.refuse_filter(conn, app, object_type, attribute, error)

    # --- provisioning log -----------------------------------------------------------------------

    def log(self, app: str, cycle_id: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return provisioning_log.log(conn, app, cycle_id)

    def add_log_rows(self, app: str, cycle_id: str, rows: Sequence[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            provisioning_log.add_log_rows(conn, app, cycle_id, rows)

    def search_log(
        self, where: LogFilter, before_id: int | None = None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], int | None]:
        with self.engine.connect() as conn:
            return provisioning_log.search_log(conn, where, before_id, limit)

    def iter_log(self, where: LogFilter, batch: int = PAGE_MAX) -> Iterator[dict[str, Any]]:
        """Every matching row, newest first, fetched page by page (CSV export): each page in a
        connection of its own, so a slow reader holds no read transaction open."""
        cursor = None
        while True:
            rows, cursor = self.search_log(where, cursor, batch)
            yield from rows
            if cursor is None:
                return

    def prune_log(self, app: str, retention_days: int, now: datetime | None = None) -> int:
        """Delete log rows, finished cycles and their outbox rows and alerts older than the
        retention; log rows in committed batches. Returns the number of log rows deleted."""
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        removed = 0
        while True:
            with self.engine.begin() as conn:
                batch = provisioning_log.prune_log_batch(conn, app, cutoff)
            removed += batch
            if batch < provisioning_log.PRUNE_BATCH:
                break
        with self.engine.begin() as conn:
            cycles.prune_cycles(conn, app, cutoff)
        return removed


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
