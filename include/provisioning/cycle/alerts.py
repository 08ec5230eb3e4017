"""Turn a finished cycle into the notices to send now, and remember what was sent (so an ongoing
problem is not repeated every run). Sending itself is the Airflow notifiers' job (glue)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from provisioning.config import AppConfig
from provisioning.cycle.guards import now
from provisioning.engine.alert_rules import Notice, assess, decide
from provisioning.state.store import StateStore


def cycle_summary(store: StateStore, app: str, cycle_id: str) -> dict[str, Any]:
    """The report's summary; a cycle that never reached report counts as failed."""
    cycle = store.cycle(app, cycle_id)
    if cycle is None:
        return {"status": "failed", "cycle_id": cycle_id, "error": "the run failed before its cycle started"}
    if cycle.get("summary"):
        return cycle["summary"]
    return {
        "status": "failed",
        "cycle_id": cycle_id,
        "error": cycle.get("error") or "the cycle did not finish",
    }


def due_notices(store: StateStore, config: AppConfig, cycle_id: str) -> list[Notice]:
    policy = config.alerts
    return decide(
        assess(
            cycle_summary(store, config.app, cycle_id),
            store.app_status(config.app),
            policy.objects_failed_min,
        ),
        store.notifications(config.app),
        watched=policy.on,
        now=now(),
        repeat_after=timedelta(minutes=policy.repeat_after_minutes),
    )


def record_sent(store: StateStore, app: str, notices: list[Notice]) -> None:
    current = store.notifications(app)
    moment = now()
    for notice in notices:
        state = current.get(notice.problem)
        if notice.state == "resolved":
            store.save_notification(app, notice.problem, open=False, message=notice.message)
        elif notice.state == "new":
            store.save_notification(
                app,
                notice.problem,
                open=True,
                first_seen=moment,
                last_sent=moment,
                times_sent=1,
                message=notice.message,
            )
        else:
            store.save_notification(
                app,
                notice.problem,
                last_sent=moment,
                times_sent=(state or {}).get("times_sent", 0) + 1,
                message=notice.message,
            )
