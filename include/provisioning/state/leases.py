"""One run of an app at a time, whatever started it: an exclusive lease per app with expiry and a
fencing token.

The lease row is taken with one conditional UPDATE (or an INSERT when the app never had one), so
SQLite and PostgreSQL give the same answer to two runs racing for it. A step of the cycle that
holds the lease takes it again with a new token -- that is how a retried attempt of a task takes
over from a stale attempt still running on a lost worker -- and every write of the plan and its
outcomes renews the lease *in the same transaction* only if the token is still current, so the
stale attempt's writes are refused and it stops sending.
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
    token: int
    ttl: timedelta


class Leases:
    def __init__(self, engine: Engine):
        self.engine = engine

    def try_acquire(self, app: str, holder: str, ttl: timedelta) -> Lease | None:
        """Take the lease if it is free, expired, or already this holder's (a new token then)."""
        c = t.leases.c
        now = utcnow()
        try:
            with self.engine.begin() as conn:
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
                token = conn.execute(select(c.token).where(c.app == app)).scalar_one()
        except IntegrityError:  # another run inserted the first lease row at the same moment
            return None
        return Lease(app, holder, token, ttl)

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
    c = t.leases.c
    now = utcnow()
    renewed = conn.execute(
        update(t.leases)
        .where((c.app == lease.app) & (c.holder == lease.holder) & (c.token == lease.token))
        .values(expires_at=now + lease.ttl)
    ).rowcount
    if not renewed:
        raise LeaseLost(
            f"the run lease of {lease.app} was taken over (this attempt held token {lease.token} of "
            f"{lease.holder}): a newer attempt or run is working on the app; this one stops"
        )
