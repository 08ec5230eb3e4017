"""An app's learned request rate and 429 pause, shared through the state store by every client of
the app: the partitions of a partitioned apply, on whatever workers they run.

It is the ``RateShare`` a throttle polls about once a second (connectors/rate_share.py). The rate
is stored app-wide: a partition that runs with 1/N of the app's budget publishes N times what it
learned and reads back 1/N of what is stored, so the later unpartitioned steps (apply_groups)
start from the whole app's rate. A rate learned long ago is not trusted: the app may have changed
its limit, and the throttle learns again from the first 429.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from provisioning.state import tables as t
from provisioning.state.times import aware, utcnow

REMEMBERED = timedelta(hours=1)


class StoreRateShare:
    def __init__(self, engine: Engine, app: str, clients: int = 1):
        self.engine = engine
        self.app = app
        self.clients = clients  # how many clients split the app's budget (the partitions)

    def publish(self, rate: float | None, paused_until: float) -> None:
        c = t.app_rate.c
        values: dict = {"updated_at": utcnow()}
        if rate is not None:
            values["rate"] = rate * self.clients
        later = case((c.paused_until > paused_until, c.paused_until), else_=paused_until)
        for _ in range(2):  # a second try when another client inserted the first row meanwhile
            try:
                with self.engine.begin() as conn:
                    if conn.execute(
                        update(t.app_rate).where(c.app == self.app).values(paused_until=later, **values)
                    ).rowcount:
                        return
                    conn.execute(insert(t.app_rate).values(app=self.app, paused_until=paused_until, **values))
                    return
            except IntegrityError:
                continue

    def observe(self) -> tuple[float | None, float]:
        c = t.app_rate.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.rate, c.paused_until, c.updated_at).where(c.app == self.app)).first()
        if row is None:
            return None, 0.0
        fresh = row.rate is not None and aware(row.updated_at) >= utcnow() - REMEMBERED
        return (row.rate / self.clients if fresh else None), row.paused_until
