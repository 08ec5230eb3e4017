"""One run of an app at a time, whatever started it: an exclusive lease per app with expiry and a
fencing token.

The lease row is taken with one conditional UPDATE (or an INSERT when the app never had one), so
SQLite and PostgreSQL give the same answer to two runs racing for it. A step of the cycle that
holds the lease takes it again with a new token -- that is how a retried attempt of a task takes
over from a stale attempt still running on a lost worker -- and every write of the plan and its
outcomes renews the lease *in the same transaction* only if the token is still current, so the
stale attempt's writes are refused and it stops sending.

An apply split into partitions (``target.partitions``) runs several tasks of one cycle at once:
they share the run lease (renewed by each, its token left alone) and each partition has a token of
its own in ``apply_partitions``, so a retried partition fences off only its own stale attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from provisioning.state import tables as t
from provisioning.state.times import utcnow


class LeaseBusy(RuntimeError):
    """Another run of the app holds the lease."""


class LeaseLost(RuntimeError):
    """This attempt's lease was taken over (a newer attempt or run): its writes are refused."""


@dataclass(frozen=True)
class Lease:
    app: str
    holder: str
    token: int  # the run lease's, or with ``partition`` that partition's
    ttl: timedelta
    partition: int | None = None


class Leases:
    def __init__(self, engine: Engine):
        self.engine = engine

    def try_acquire(self, app: str, holder: str, ttl: timedelta) -> Lease | None:
        """Take the lease if it is free, expired, or already this holder's (a new token then)."""
        try:
            with self.engine.begin() as conn:
                token = self._take(conn, app, holder, ttl)
        except IntegrityError:  # another run inserted the first lease row at the same moment
            return None
        return None if token is None else Lease(app, holder, token, ttl)

    @staticmethod
    def _take(conn: Connection, app: str, holder: str, ttl: timedelta) -> int | None:
        """The run lease's new token if it was free, expired or this holder's; else None."""
        c = t.leases.c
        now = utcnow()
        taken = conn.execute(
            update(t.leases)
            .where((c.app == app) & ((c.holder == holder) | (c.expires_at < now)))
            .values(holder=holder, token=c.token + 1, acquired_at=now, expires_at=now + ttl)
        ).rowcount
        if not taken:
            if conn.execute(select(c.app).where(c.app == app)).first():
                return None
            conn.execute(
                insert(t.leases).values(
                    app=app, holder=holder, token=1, acquired_at=now, expires_at=now + ttl
                )
            )
        return conn.execute(select(c.token).where(c.app == app)).scalar_one()

    def try_acquire_partition(
        self, app: str, holder: str, partition: int, count: int, ttl: timedelta
    ) -> Lease | None:
        """Join the cycle's run lease (taking it if free or expired) without a new run token, and
        take the partition with a new token of its own."""
        c, p = t.leases.c, t.apply_partitions.c
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                joined = conn.execute(
                    update(t.leases).where((c.app == app) & (c.holder == holder)).values(expires_at=now + ttl)
                ).rowcount
                if not joined and self._take(conn, app, holder, ttl) is None:
                    return None
                key = (p.app == app) & (p.cycle_id == holder) & (p.partition == partition)
                started = {
                    "status": "running",
                    "error": None,
                    "started_at": now,
                    "finished_at": None,
                    "count": count,
                }
                if not conn.execute(
                    update(t.apply_partitions).where(key).values(token=p.token + 1, **started)
                ).rowcount:
                    conn.execute(
                        insert(t.apply_partitions).values(
                            app=app,
                            cycle_id=holder,
                            partition=partition,
                            token=1,
                            attempted=0,
                            succeeded=0,
                            failed=0,
                            **started,
                        )
                    )
                token = conn.execute(select(p.token).where(key)).scalar_one()
        except IntegrityError:  # another attempt inserted the same row at the same moment
            return None
        return Lease(app, holder, token, ttl, partition)

    def fence_partitions(self, app: str, holder: str) -> None:
        """Before the steps after a partitioned apply: every partition's token moves on, so an
        attempt of one still running on a lost worker can write nothing more."""
        p = t.apply_partitions.c
        with self.engine.begin() as conn:
            conn.execute(
                update(t.apply_partitions)
                .where((p.app == app) & (p.cycle_id == holder))
                .values(token=p.token + 1)
            )

    def record_progress(self, lease: Lease, attempted: int, succeeded: int, failed: int) -> None:
        """A running partition's counts so far, for the page (fenced: a stale attempt stops here)."""
        self._update_partition(lease, attempted=attempted, succeeded=succeeded, failed=failed)

    def finish_partition(
        self, lease: Lease, status: str, counts: dict[str, int], error: str | None = None
    ) -> None:
        self._update_partition(lease, status=status, error=error, finished_at=utcnow(), **counts)

    def _update_partition(self, lease: Lease, **values: object) -> None:
        p = t.apply_partitions.c
        with self.engine.begin() as conn:
            fence(conn, lease)
            conn.execute(
                update(t.apply_partitions)
                .where((p.app == lease.app) & (p.cycle_id == lease.holder) & (p.partition == lease.partition))
                .values(**values)
            )

    def partitions(self, app: str, holder: str) -> list[dict]:
        """The cycle's apply partitions with their progress, in order (none unless partitioned)."""
        p = t.apply_partitions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.apply_partitions)
                .where((p.app == app) & (p.cycle_id == holder))
                .order_by(p.partition)
            ).all()
        return [dict(r._mapping) for r in rows]

    def holder(self, app: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.leases).where(t.leases.c.app == app)).first()
        return dict(row._mapping) if row else None

    def release(self, app: str, holder: str) -> bool:
        """Free the lease if this cycle holds it (any attempt): the next run need not wait."""
        c = t.leases.c
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.leases)
                    .where((c.app == app) & (c.holder == holder))
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                ).rowcount
            )


def fence(conn: Connection, lease: Lease | None) -> None:
    """Inside a write transaction: renew the lease, or refuse the write if it was taken over."""
    if lease is None:
        return
    c, p = t.leases.c, t.apply_partitions.c
    now = utcnow()
    ours = (c.app == lease.app) & (c.holder == lease.holder)
    if lease.partition is None:
        ours &= c.token == lease.token
    renewed = conn.execute(update(t.leases).where(ours).values(expires_at=now + lease.ttl)).rowcount
    if renewed and lease.partition is not None:  # an UPDATE, so a takeover waits for this write
        renewed = conn.execute(
            update(t.apply_partitions)
            .where(
                (p.app == lease.app)
                & (p.cycle_id == lease.holder)
                & (p.partition == lease.partition)
                & (p.token == lease.token)
            )
            .values(token=p.token)
        ).rowcount
    if not renewed:
        raise LeaseLost(
            f"the run lease of {lease.app} was taken over (this attempt held token {lease.token} of "
            f"{lease.holder}): a newer attempt or run is working on the app; this one stops"
        )
