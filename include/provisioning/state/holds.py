"""What the accidental-deletion guard remembers between cycles: the removals held for approval
(and which cycle held them), approvals, the directory counts of healthy cycles, and the removals
applied without approval inside the rolling window."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, insert, select, update

from provisioning.engine.removal_guard import REMOVALS
from provisioning.engine.vocabulary import Action, ObjectType, OutboxStatus
from provisioning.state import tables as t
from provisioning.state.times import aware, utcnow

HeldKey = tuple[str, str, str, str]  # object type, source id, action, member id ('' if none)


class Holds:
    def __init__(self, engine: Engine):
        self.engine = engine

    def sync(
        self, app: str, cycle_id: str, held: set[HeldKey], reason: str | None, counts: dict[str, int]
    ) -> None:
        """The removals held now replace the previous set (a removal no longer planned, or approved,
        is no longer held); a removal held before keeps the time it was first held."""
        now = utcnow()
        c = t.held_changes.c
        with self.engine.begin() as conn:
            before = {
                tuple(r)
                for r in conn.execute(
                    select(c.object_type, c.source_id, c.action, c.member_id).where(c.app == app)
                )
            }
            gone = [
                {"b_type": k[0], "b_source": k[1], "b_action": k[2], "b_member": k[3]} for k in before - held
            ]
            if gone:  # one statement, executed for many keys
                conn.execute(
                    delete(t.held_changes).where(
                        (c.app == app)
                        & (c.object_type == bindparam("b_type"))
                        & (c.source_id == bindparam("b_source"))
                        & (c.action == bindparam("b_action"))
                        & (c.member_id == bindparam("b_member"))
                    ),
                    gone,
                )
            new = [
                {
                    "app": app,
                    "object_type": k[0],
                    "source_id": k[1],
                    "action": k[2],
                    "member_id": k[3],
                    "first_held_at": now,
                    "first_held_cycle": cycle_id,
                }
                for k in held - before
            ]
            if new:
                conn.execute(insert(t.held_changes), new)
            if held:
                conn.execute(delete(t.holds).where((t.holds.c.app == app) & (t.holds.c.cycle_id == cycle_id)))
                conn.execute(
                    insert(t.holds).values(
                        app=app, cycle_id=cycle_id, held_at=now, reason=reason or "", counts=counts
                    )
                )

    def hold(self, app: str, cycle_id: str | None = None) -> dict[str, Any] | None:
        """The named hold, or the app's latest."""
        h = t.holds.c
        query = select(t.holds).where(h.app == app)
        query = query.where(h.cycle_id == cycle_id) if cycle_id else query.order_by(h.held_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row else None

    def current(self, app: str) -> dict[str, Any] | None:
        """The latest hold while anything is still held (what the page shows and one approves)."""
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(t.held_changes.c.app).where(t.held_changes.c.app == app).limit(1)
            ).first()
        return self.hold(app) if waiting else None

    def held_as_of(self, app: str, held_at: datetime) -> set[HeldKey]:
        """Removals still held that were already held when a hold was shown: what it approves."""
        c = t.held_changes.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.object_type, c.source_id, c.action, c.member_id, c.first_held_at).where(c.app == app)
            ).all()
        return {tuple(r[:4]) for r in rows if aware(r[4]) <= aware(held_at)}

    def approve(self, app: str, cycle_id: str, by: str, approving_cycle: str) -> None:
        h = t.holds.c
        with self.engine.begin() as conn:
            conn.execute(
                update(t.holds)
                .where((h.app == app) & (h.cycle_id == cycle_id))
                .values(approved_at=utcnow(), approved_by=by, approving_cycle=approving_cycle)
            )

    def last_approval(self, app: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(t.holds.c.approved_at)).where(t.holds.c.app == app)).scalar()
        return aware(value) if value else None

    # --- the collapse baseline ------------------------------------------------------------------

    def add_health(self, app: str, cycle_id: str, counts: dict[str, int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.directory_health).values(app=app, cycle_id=cycle_id, time=utcnow(), counts=counts)
            )

    def health_baseline(self, app: str, since: datetime) -> dict[str, int]:
        """The largest count of each relation among healthy cycles since ``since``."""
        d = t.directory_health.c
        with self.engine.connect() as conn:
            samples = conn.execute(select(d.counts).where((d.app == app) & (d.time >= since))).scalars()
            best: dict[str, int] = {}
            for counts in samples:
                for relation, n in counts.items():
                    best[relation] = max(best.get(relation, 0), n)
        return best

    def latest_health(self, app: str) -> dict[str, Any] | None:
        """The latest healthy cycle's counts, with its cycle id and time: the last read of the
        directory no guard objected to."""
        d = t.directory_health.c
        query = (
            select(d.cycle_id, d.time, d.counts)
            .where(d.app == app)
            .order_by(d.time.desc(), d.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return {"cycle_id": row.cycle_id, "time": aware(row.time), "counts": row.counts} if row else None

    def prune_health(self, app: str, before: datetime) -> None:
        d = t.directory_health.c
        with self.engine.begin() as conn:
            conn.execute(delete(t.directory_health).where((d.app == app) & (d.time < before)))

    # --- the rolling window ---------------------------------------------------------------------

    def recent_removals(self, app: str, since: datetime) -> Counter:
        """Object type -> units of access removed by actions applied since ``since`` without an
        approval (a member counts alone)."""
        o = t.outbox.c
        removal = [
            and_(o.object_type == object_type, o.action.in_(actions))
            for object_type, actions in REMOVALS.items()
        ]
        query = (
            select(o.object_type, o.action, o.payload)
            .where(
                (o.app == app)
                & (o.status == OutboxStatus.SUCCEEDED)
                & (o.finished_at >= since)
                & o.approved_by.is_(None)
            )
            .where(removal[0] | removal[1] | removal[2])
        )
        counts: Counter = Counter()
        with self.engine.connect() as conn:
            for object_type, action, payload in conn.execute(query):
                counts[object_type] += _units(object_type, action, payload)
        return counts


def _units(object_type: str, action: str, payload: dict[str, Any] | None) -> int:
    if object_type != ObjectType.MEMBERSHIP:
        return 1
    key = "removed" if action == Action.REPLACE_MEMBERS else "members"
    return len((payload or {}).get(key) or [])
