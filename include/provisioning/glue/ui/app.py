"""The Provisioning page: every app's health, the searchable provisioning log, a chart of each
cycle's actions and failures, CSV export, and links to the DAG runs.

Mounted by the Airflow API server (plugins/provisioning_ui.py) at /provisioning. Every route
depends on Airflow's own ``get_user``: the caller's Airflow session cookie or bearer token, else
401. The page is read-only; changes go through DAG runs, where Airflow records who asked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from provisioning.config import AppConfig
from provisioning.config.loader import app_config_paths, load_app_config
from provisioning.glue.notifiers import run_url
from provisioning.glue.resources import state_store_url
from provisioning.state.log_queries import LogFilter, iter_log, open_counts, recent_cycles, search_log
from provisioning.state.store import StateStore

CSV_COLUMNS = (
    "time", "app", "cycle_id", "object_type", "source_id", "source_display", "target_id", "action",
    "status", "modified_properties", "detail", "error_code", "error_message",
)  # fmt: skip
CSV_MAX_ROWS = 1_000_000


async def authenticated(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> None:
    """Airflow's own check (session cookie or bearer token). Airflow answers a malformed token
    with 403; for this read-only page any failed authentication is 401, so clients re-login."""
    try:
        await get_user(request, None, bearer)
    except HTTPException as exc:
        if exc.status_code == 403:
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"}) from None
        raise


app = FastAPI(title="Provisioning", dependencies=[Depends(authenticated)])


def _configs() -> dict[str, AppConfig]:
    configs = {}
    for path in app_config_paths():
        try:
            config = load_app_config(path)
        except Exception:  # a broken config is its DAG's import error; the page shows the others
            continue
        configs[config.app] = config
    return configs


@cache
def _store(url: str) -> StateStore:
    store = StateStore(url)
    store.create_schema()
    return store


def _store_for(config: AppConfig) -> StateStore:
    return _store(state_store_url(config.state_conn_id).render_as_string(hide_password=False))


def _paused() -> dict[str, bool]:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return dict(session.execute(select(DagModel.dag_id, DagModel.is_paused)).all())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@app.get("/", response_class=HTMLResponse)
def page() -> str:
    return (Path(__file__).parent / "page.html").read_text()


@app.get("/api/apps")
def apps() -> list[dict[str, Any]]:
    paused = _paused()
    rows = []
    for name, config in sorted(_configs().items()):
        store = _store_for(config)
        status = store.app_status(name)
        (last,) = recent_cycles(store, name, 1) or [None]
        summary = (last or {}).get("summary") or {}
        state = "quarantined" if status["quarantined"] else "active"
        if paused.get(config.dag_id, False):
            state = "paused"
        duration = None
        if last and last["finished_at"] and last["started_at"]:
            duration = (last["finished_at"] - last["started_at"]).total_seconds()
        rows.append(
            {
                "app": name,
                "dag_id": config.dag_id,
                "state": state,
                "quarantine_reason": status.get("quarantine_reason") if status["quarantined"] else None,
                "retry_at": _iso(status.get("retry_at")),
                "last_cycle": last
                and {
                    "cycle_id": last["cycle_id"],
                    "status": last["status"],
                    "started_at": _iso(last["started_at"]),
                    "duration_seconds": duration,
                    "actions": summary.get("actions") or summary.get("would") or {},
                    "run_url": run_url(config.dag_id, last["cycle_id"]),
                },
                **open_counts(store, name),
                "hold": _hold(store, name),
            }
        )
    return rows


def _hold(store: StateStore, app: str) -> dict[str, Any] | None:
    """What the accidental-deletion guard holds: the cycle an approval names, and why."""
    hold = store.holds.current(app)
    if hold is None:
        return None
    return {"cycle_id": hold["cycle_id"], "held_at": _iso(hold["held_at"]), "reason": hold["reason"]}


def _filter(
    app_: Annotated[str | None, Query(alias="app")] = None,
    user: str | None = None,
    action: str | None = None,
    status: str | None = None,
    cycle: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AppConfig], LogFilter]:
    """The log filters of the page's query string (a dependency of both log endpoints)."""
    configs = _configs()
    if app_ and app_ not in configs:
        raise HTTPException(404, f"no app {app_!r}")
    chosen = [configs[app_]] if app_ else list(configs.values())
    return chosen, LogFilter((app_,) if app_ else (), user or None, action, status, cycle, since, until)


Filtered = Annotated[tuple[list[AppConfig], LogFilter], Depends(_filter)]


def _stores(configs: list[AppConfig]) -> dict[str, tuple[StateStore, tuple[str, ...]]]:
    """Apps grouped by state store (usually one for all)."""
    grouped: dict[str, tuple[StateStore, tuple[str, ...]]] = {}
    for config in configs:
        store = _store_for(config)
        key = str(store.engine.url)
        grouped[key] = (store, (*grouped.get(key, (store, ()))[1], config.app))
    return grouped


def _row(row: dict[str, Any], dag_ids: dict[str, str]) -> dict[str, Any]:
    return {
        **row,
        "time": _iso(row["time"]),
        "run_url": run_url(dag_ids[row["app"]], row["cycle_id"]) if row["app"] in dag_ids else None,
    }


@app.get("/api/log")
def log(
    filtered: Filtered,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    configs, where = filtered
    dag_ids = {c.app: c.dag_id for c in configs}
    grouped = _stores(configs)
    if len(grouped) > 1 and not where.apps:
        raise HTTPException(400, "apps use different state stores: choose an app")
    store, apps_ = next(iter(grouped.values()))
    rows, cursor = search_log(store, replace(where, apps=apps_), before_id, limit)
    return {"rows": [_row(r, dag_ids) for r in rows], "next_before_id": cursor}


@app.get("/api/log.csv")
def log_csv(filtered: Filtered) -> StreamingResponse:
    configs, where = filtered
    grouped = _stores(configs)

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        sent = 0
        for store, apps_ in grouped.values():
            for row in iter_log(store, replace(where, apps=apps_)):
                modified = row["modified_properties"]
                row = {
                    **row,
                    "time": _iso(row["time"]),
                    "modified_properties": modified and json.dumps(modified),
                }
                writer.writerow([row[c] for c in CSV_COLUMNS])
                sent += 1
                if sent % 500 == 0:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
                if sent >= CSV_MAX_ROWS:
                    break
        yield out.getvalue()

    name = f"provisioning-log-{where.apps[0] if where.apps else 'all'}.csv"
    return StreamingResponse(
        lines(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@app.get("/api/cycles")
def cycles(app_: str = Query(alias="app"), limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    """Per cycle, oldest first: succeeded and failed actions (the chart), status and run link."""
    configs = _configs()
    if app_ not in configs:
        raise HTTPException(404, f"no app {app_!r}")
    config = configs[app_]
    out = []
    for cycle in reversed(recent_cycles(_store_for(config), app_, limit)):
        actions = (cycle["summary"] or {}).get("actions") or {}
        by_status: dict[str, int] = {}
        for per_action in actions.values():
            for statuses in per_action.values():
                for state, n in statuses.items():
                    by_status[state] = by_status.get(state, 0) + n
        out.append(
            {
                "cycle_id": cycle["cycle_id"],
                "started_at": _iso(cycle["started_at"]),
                "status": cycle["status"],
                "succeeded": by_status.get("succeeded", 0),
                "failed": by_status.get("failed", 0),
                "staged": by_status.get("staged", 0),
                "run_url": run_url(config.dag_id, cycle["cycle_id"]),
            }
        )
    return out
