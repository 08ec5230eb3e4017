"""Cycles and the data their tasks hand to each other.

A cycle row is one run of an app: when it started, its status, the summary its report wrote and
the error of a step that failed outright. Artifacts are the hand-overs between tasks (desired
state), kept in the store so that every worker reaches them; only the last few cycles' are kept.
Every function works on a connection: the caller owns the transaction.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, cast, func, insert, select, true, update

from provisioning.engine.vocabulary import CycleStatus, OutboxStatus
from provisioning.state import json_codec
from provisioning.state import tables as t
from provisioning.state.bounds import MAX_MESSAGE_LENGTH, clip
from provisioning.state.times import aware, utcnow

ARTIFACT_CYCLES_KEPT = 5
# the statuses a cycle's chart bar shows, summed over the actions the report counted
CHARTED = (OutboxStatus.SUCCEEDED, OutboxStatus.FAILED, OutboxStatus.STAGED)
# outbox rows nothing will change any more: pruned with their cycle
SETTLED = (OutboxStatus.SUCCEEDED, OutboxStatus.FAILED, OutboxStatus.SKIPPED, OutboxStatus.SUPERSEDED)

_SPACE = re.compile(r"[ \t\n\r]*")  # what JSON allows between tokens (artifact_items)
_COMPRESS_LEVEL = 3
_COMPACT = (",", ":")  # JSON separators: no spaces
_BATCH = 1000  # items encoded per write to the compressor (encode_items)


def _key(app: str, cycle_id: str):
    return (t.cycles.c.app == app) & (t.cycles.c.cycle_id == cycle_id)


def start_cycle(conn: Connection, app: str, cycle_id: str) -> None:
    """A new cycle, or a rerun of one (its earlier error is cleared)."""
    if conn.execute(select(t.cycles.c.cycle_id).where(_key(app, cycle_id))).first():
        conn.execute(
            update(t.cycles)
            .where(_key(app, cycle_id))
            .values(status=CycleStatus.RUNNING, error=None, error_code=None)
        )
    else:
        conn.execute(
            insert(t.cycles).values(
                app=app, cycle_id=cycle_id, started_at=utcnow(), status=CycleStatus.RUNNING
            )
        )


def finish_cycle(conn: Connection, app: str, cycle_id: str, status: str, summary: dict[str, Any]) -> None:
    conn.execute(
        update(t.cycles)
        .where(_key(app, cycle_id))
        .values(status=status, summary=summary, finished_at=utcnow())
    )


def record_cycle_error(conn: Connection, app: str, cycle_id: str, code: str, message: str) -> None:
    conn.execute(
        update(t.cycles)
        .where(_key(app, cycle_id))
        .values(error=clip(message, MAX_MESSAGE_LENGTH), error_code=code)
    )


def cycle(conn: Connection, app: str, cycle_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.cycles).where(_key(app, cycle_id))).mappings().first()
    return dict(row) if row else None


def recent_cycles(conn: Connection, app: str, limit: int = 50) -> list[dict[str, Any]]:
    """The app's latest cycles, newest first."""
    c = t.cycles.c
    query = (
        select(c.cycle_id, c.started_at, c.finished_at, c.status, c.summary)
        .where(c.app == app)
        .order_by(c.started_at.desc())
        .limit(limit)
    )
    return [
        {**r, "started_at": aware(r["started_at"]), "finished_at": aware(r["finished_at"])}
        for r in conn.execute(query).mappings()
    ]


def cycle_totals(conn: Connection, app: str, limit: int = 50) -> list[dict[str, Any]]:
    """The app's latest cycles, oldest first, each with its actions summed per status (succeeded,
    failed, staged) as its report counted them. The sums come from the report's summary, not from
    the outbox: a later plan supersedes the staged actions of earlier cycles."""
    c = t.cycles.c
    recent = (
        select(c.cycle_id, c.started_at, c.status, c.summary)
        .where(c.app == app)
        .order_by(c.started_at.desc())
        .limit(limit)
        .subquery()
    )
    sums: dict[tuple[str, str], int] = {
        (cycle_id, status): int(n) for cycle_id, status, n in conn.execute(_status_sums(conn, recent))
    }
    rows = conn.execute(
        select(recent.c.cycle_id, recent.c.started_at, recent.c.status).order_by(recent.c.started_at)
    ).mappings()
    return [
        {
            **r,
            "started_at": aware(r["started_at"]),
            **{s.value: sums.get((r["cycle_id"], s), 0) for s in CHARTED},
        }
        for r in rows
    ]


def _status_sums(conn: Connection, recent):
    """(cycle id, status, number of actions) over the summaries' ``actions`` (object type ->
    action -> status -> number): JSON is walked with each database's own table functions."""
    if conn.dialect.name == "postgresql":
        kinds = func.json_each(recent.c.summary["actions"]).table_valued("value").alias("kinds")
        actions = func.json_each(kinds.c.value).table_valued("value").alias("actions")
        statuses = func.json_each_text(actions.c.value).table_valued("key", "value").alias("statuses")
        status, number = statuses.c.key, cast(statuses.c.value, Integer)
        joined = recent.join(kinds, true()).join(actions, true()).join(statuses, true())
        charted = status.in_(CHARTED)
    else:  # SQLite: the leaves under $.actions are the numbers per status
        leaves = func.json_tree(recent.c.summary, "$.actions").table_valued("key", "value", "type")
        leaves = leaves.alias("leaves")
        status, number = leaves.c.key, leaves.c.value
        joined = recent.join(leaves, true())
        charted = (leaves.c.type == "integer") & status.in_(CHARTED)
    return (
        select(recent.c.cycle_id, status, func.sum(number))
        .select_from(joined)
        .where(charted)
        .group_by(recent.c.cycle_id, status)
    )


def encode(value: Any) -> bytes:
    """A hand-over as it is stored: gzip'd compact JSON."""
    return gzip.compress(_ascii_json(value), compresslevel=_COMPRESS_LEVEL)


def _ascii_json(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped: the reader holds the text as one str, which
    takes 1 byte a character only when all of it is ASCII (one accented name in raw UTF-8 made
    the desired users' text twice as large in memory)."""
    return json.dumps(value, separators=_COMPACT).encode()


def encode_items(items: Iterable[Any]) -> bytes:
    """A list given one item at a time, stored as ``encode`` stores the whole list (the same JSON
    text): each batch of items is encoded and compressed as it comes, so neither the list nor its
    JSON text is ever held whole (at 1,000,000 desired users the text and its bytes were over
    1 GB of the extract's peak; compressed, they are a few dozen MB)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=_COMPRESS_LEVEL) as out:
        out.write(b"[")
        batch: list[Any] = []
        separator = b""  # before each batch but the first
        for item in items:
            batch.append(item)
            if len(batch) == _BATCH:
                out.write(separator + _ascii_json(batch)[1:-1])
                batch, separator = [], b","
        if batch:
            out.write(separator + _ascii_json(batch)[1:-1])
        out.write(b"]")
    return buffer.getvalue()


def put_artifact(conn: Connection, app: str, cycle_id: str, name: str, data: bytes) -> int:
    """Store (or replace) one hand-over, already encoded; returns its compressed size."""
    a = t.artifacts.c
    conn.execute(t.artifacts.delete().where((a.app == app) & (a.cycle_id == cycle_id) & (a.name == name)))
    conn.execute(
        insert(t.artifacts).values(app=app, cycle_id=cycle_id, name=name, data=data, created_at=utcnow())
    )
    # keep only recent cycles' artifacts: they are hand-overs, not history
    old = (
        select(a.cycle_id)
        .where(a.app == app)
        .group_by(a.cycle_id)
        .order_by(func.max(a.created_at).desc())
        .offset(ARTIFACT_CYCLES_KEPT)
    )
    stale = [r[0] for r in conn.execute(old)]
    if stale:
        conn.execute(t.artifacts.delete().where((a.app == app) & a.cycle_id.in_(stale)))
    return len(data)


def get_artifact(conn: Connection, app: str, cycle_id: str, name: str) -> Any:
    return json_codec.loads(_artifact_text(conn, app, cycle_id, name))


def artifact_items(conn: Connection, app: str, cycle_id: str, name: str) -> Iterator[Any]:
    """The items of a stored list, each parsed when it is taken: a caller that converts them as
    it goes never holds the whole decoded list beside its own (at 100,000 desired users, the
    decoded list was the largest part of the diff's peak). The text is read before the first
    item is asked for, so ``conn`` may be closed by then."""
    return _items(_artifact_text(conn, app, cycle_id, name))


def _artifact_text(conn: Connection, app: str, cycle_id: str, name: str) -> str:
    a = t.artifacts.c
    row = conn.execute(
        select(a.data).where((a.app == app) & (a.cycle_id == cycle_id) & (a.name == name))
    ).first()
    if row is None:
        raise LookupError(
            f"no {name!r} data stored for cycle {cycle_id!r} of app {app!r}: rerun the earlier steps"
        )
    # text, not bytes, for json: the decompressed bytes are freed before parsing instead of
    # being held beside the text and the parsed objects
    return gzip.decompress(row[0]).decode()


def _items(text: str) -> Iterator[Any]:
    """The items of the JSON array ``text``, one at a time."""
    decoder = json.JSONDecoder()
    at = _SPACE.match(text).end()
    if text[at] != "[":
        raise ValueError("the stored data is not a list")
    at = _SPACE.match(text, at + 1).end()
    while text[at] != "]":
        item, at = decoder.raw_decode(text, at)
        yield item
        at = _SPACE.match(text, at).end()
        if text[at] == ",":
            at = _SPACE.match(text, at + 1).end()


def prune_cycles(conn: Connection, app: str, cutoff: datetime) -> None:
    """Retention: finished cycles started before ``cutoff``, their settled outbox rows, and alerts
    older than it. Open actions stay: a later cycle still owes them."""
    c = t.cycles.c
    old = select(c.cycle_id).where((c.app == app) & (c.started_at < cutoff) & c.finished_at.is_not(None))
    o = t.outbox.c
    conn.execute(t.outbox.delete().where((o.app == app) & o.cycle_id.in_(old) & o.status.in_(SETTLED)))
    conn.execute(t.alerts.delete().where((t.alerts.c.app == app) & (t.alerts.c.time < cutoff)))
    conn.execute(t.cycles.delete().where((c.app == app) & c.cycle_id.in_(old.scalar_subquery())))
