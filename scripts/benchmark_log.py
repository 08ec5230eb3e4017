"""How fast the Provisioning page's queries are with a million provisioning log rows.

Fills a fresh SQLite state store with N log rows (3 apps, 10-minute cycles over 40 days, a
realistic mix of actions and statuses), then times each query the page makes: the first page,
the next page, search by user prefix, by action+status, by cycle, by time range, a CSV export of
10,000 rows, and the retention prune of 10 days' worth. Run: make bench-log [N=1000000].
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioning.engine.vocabulary import Action, LogStatus, ObjectType
from provisioning.state import StateStore
from provisioning.state.provisioning_log import LogFilter, LogOnlyAction
from provisioning.state.schema import upgrade as upgrade_schema

ACTIONS = [
    (Action.UPDATE, 70),
    (Action.CREATE, 10),
    (Action.DISABLE, 5),
    (Action.ADD_MEMBERS, 8),
    (Action.SKIP, 5),
    (LogOnlyAction.NOTE, 2),
]
STATUSES = [(LogStatus.SUCCESS, 95), (LogStatus.FAILURE, 3), (LogStatus.SKIPPED, 2)]


def fill(store: StateStore, rows: int, now: datetime) -> None:
    """Log rows as cycles write them: one batch per app and cycle, each row at its own time."""
    rng = random.Random(7)
    actions = [a for a, w in ACTIONS for _ in range(w)]
    statuses = [s for s, w in STATUSES for _ in range(w)]
    start = now - timedelta(days=40)
    batches: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for i in range(rows):
        time_ = start + timedelta(seconds=i * (40 * 86400 / rows))
        cycle = time_.replace(minute=time_.minute // 10 * 10, second=0, microsecond=0)
        user = rng.randrange(50_000)
        batches[("wiki", "crm", "hr")[i % 3], f"scheduled__{cycle.isoformat()}"].append(
            {
                "time": time_,
                "object_type": ObjectType.USER,
                "source_id": f"u{user:07d}",
                "source_display": f"user{user}@contoso.example",
                "target_id": uuid.uuid5(uuid.NAMESPACE_OID, str(user)).hex,
                "action": rng.choice(actions),
                "status": rng.choice(statuses),
                "modified_properties": [{"path": "title", "old": "A", "new": "B"}],
            }
        )
    for (app, cycle_id), batch in batches.items():
        store.add_log_rows(app, cycle_id, batch)


def timed(label: str, fn, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<46} {best * 1000:9.1f} ms   ({result})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        store = StateStore(f"sqlite:///{Path(folder) / 'state.db'}")
        upgrade_schema(store.engine)
        started = time.perf_counter()
        fill(store, args.rows, now)
        print(f"filled {args.rows:,} log rows in {time.perf_counter() - started:.1f} s")
        first, cursor = store.search_log(LogFilter(apps=("wiki",)))
        some_user = first[0]["source_display"]
        some_cycle = first[0]["cycle_id"]
        timed("first page, one app", lambda: len(store.search_log(LogFilter(apps=("wiki",)))[0]))
        timed("next page (keyset)", lambda: len(store.search_log(LogFilter(apps=("wiki",)), cursor)[0]))
        timed("first page, all apps", lambda: len(store.search_log(LogFilter())[0]))
        timed(
            "user, exact userName",
            lambda: len(store.search_log(LogFilter(apps=("wiki",), user=some_user))[0]),
        )
        timed(
            "user, prefix 'user123'",
            lambda: len(store.search_log(LogFilter(apps=("wiki",), user="user123"))[0]),
        )
        timed(
            "action=disable status=failure",
            lambda: len(
                store.search_log(LogFilter(apps=("wiki",), action=Action.DISABLE, status=LogStatus.FAILURE))[
                    0
                ]
            ),
        )
        timed("one cycle", lambda: len(store.search_log(LogFilter(apps=("wiki",), cycle_id=some_cycle))[0]))
        window = LogFilter(
            apps=("crm",), since=now - timedelta(days=20, hours=1), until=now - timedelta(days=20)
        )
        timed("one hour, 20 days ago", lambda: len(store.search_log(window)[0]))
        export = LogFilter(apps=("wiki",), since=now - timedelta(days=5))
        timed(
            "CSV export source, 10,000 rows",
            lambda: sum(1 for _, __ in zip(range(10_000), store.iter_log(export), strict=False)),
            1,
        )
        timed("prune: 30-day retention (10 days of rows)", lambda: store.prune_log("wiki", 30, now), 1)


if __name__ == "__main__":
    main()
