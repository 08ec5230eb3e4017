"""The Provisioning page: every app's health (and every app config that does not load), the
searchable provisioning log, a chart of each cycle's actions and failures, CSV export, and links
to the DAG runs.

``create_app`` builds it on a ``Host``; the Airflow API server mounts it at /provisioning with
``AirflowHost`` (plugins/provisioning_ui.py), whose check guards every route: the caller's
Airflow session cookie or bearer token, else 401. The page is read-only; changes go through DAG
runs, where Airflow records who asked. All it reads of the state comes through ``StateStore``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from provisioning.config import AppConfig
from provisioning.engine.lifecycle import Lifecycle
from provisioning.engine.vocabulary import LogStatus, ObjectType
from provisioning.glue.ui.catalog import Apps, Catalog
from provisioning.glue.ui.host import Host
from provisioning.glue.ui.models import (
    AppRow,
    BrokenConfig,
    CycleBar,
    Hold,
    LastCycle,
    LogPage,
    LogRow,
    PartitionProgress,
    Vocabulary,
)
from provisioning.state import StateStore
from provisioning.state.provisioning_log import LOG_ACTIONS, LogFilter

HERE = Path(__file__).parent
STATIC = {"page.js": "text/javascript", "page.css": "text/css"}  # the files under static/
CSV_COLUMNS = (
    "time", "app", "cycle_id", "object_type", "source_id", "source_display", "target_id", "action",
    "lifecycle", "status", "modified_properties", "detail", "error_code", "error_message",
)  # fmt: skip
CSV_MAX_ROWS = 1_000_000
# what makes a spreadsheet read a cell as a formula (OWASP, CSV injection); a name, an error
# message or a value echoed by an app may start with any of them
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def create_app(host: Host | None = None, apps_folder: Path | None = None) -> FastAPI:
    """The page's app. ``host``: what it takes from the platform (Airflow's, by default);
    ``apps_folder``: where the app configs are (the folder the DAGs read, by default)."""
    if host is None:
        from provisioning.glue.ui.airflow_host import AirflowHost

        host = AirflowHost()
    app = FastAPI(title="Provisioning", dependencies=[Depends(host.authenticate)])
    app.state.catalog = Catalog(host, apps_folder)
    app.include_router(router)
    return app


def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


CatalogDep = Annotated[Catalog, Depends(_catalog)]


def _visible(request: Request, catalog: CatalogDep) -> Apps:
    return catalog.apps(request.state.user)


VisibleDep = Annotated[Apps, Depends(_visible)]  # the apps the caller may read
router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def page() -> str:
    return (HERE / "page.html").read_text()


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise HTTPException(404, f"no file {name!r}")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name])


@router.get("/api/vocabulary")
def vocabulary() -> Vocabulary:
    """The actions, statuses and object types a log row can have: the filters offer these."""
    return Vocabulary(
        actions=list(LOG_ACTIONS),
        statuses=list(LogStatus),
        object_types=list(ObjectType),
        lifecycles=list(Lifecycle),
    )


@router.get("/api/apps")
def apps(catalog: CatalogDep, visible: VisibleDep) -> list[AppRow]:
    paused = catalog.host.paused()
    return [_app_row(catalog, config, paused) for config in visible.configs.values()]


def _app_row(catalog: Catalog, config: AppConfig, paused: dict[str, bool]) -> AppRow:
    store, name = catalog.store(config), config.app
    status = store.app_status(name)
    state = "quarantined" if status["quarantined"] else "active"
    if paused.get(config.dag_id, False):
        state = "paused"
    held = store.holds.current(name)
    hold = Hold(cycle_id=held["cycle_id"], held_at=held["held_at"], reason=held["reason"]) if held else None
    return AppRow(
        app=name,
        dag_id=config.dag_id,
        state=state,
        quarantine_reason=status.get("quarantine_reason") if status["quarantined"] else None,
        retry_at=status.get("retry_at"),
        last_cycle=_last_cycle(catalog, store, config),
        **store.open_counts(name),
        hold=hold,
    )


def _last_cycle(catalog: Catalog, store: StateStore, config: AppConfig) -> LastCycle | None:
    (last,) = store.recent_cycles(config.app, 1) or [None]
    if last is None:
        return None
    summary = last["summary"] or {}
    duration = None
    if last["finished_at"] and last["started_at"]:
        duration = (last["finished_at"] - last["started_at"]).total_seconds()
    return LastCycle(
        cycle_id=last["cycle_id"],
        status=last["status"],
        started_at=last["started_at"],
        duration_seconds=duration,
        actions=summary.get("actions") or summary.get("would") or {},
        run_url=catalog.host.run_url(config.dag_id, last["cycle_id"]),
        partitions=[PartitionProgress(**p) for p in store.leases.partitions(config.app, last["cycle_id"])],
    )


@router.get("/api/config-errors")
def config_errors(visible: VisibleDep) -> list[BrokenConfig]:
    """App configs that do not load, each with its file, field paths and problems."""
    return visible.broken


def _chosen(known: Apps, app: str | None) -> list[AppConfig]:
    """The configs of one app, or of all the caller may read; an app they may not read, a broken
    or an unknown one is refused with the reason."""
    if app in known.hidden:
        raise HTTPException(403, f"you may not read app {app!r} (its DAG's permissions)")
    if app is None:
        return list(known.configs.values())
    if app in known.configs:
        return [known.configs[app]]
    for broken in known.broken:
        if broken.app == app:
            raise HTTPException(409, f"the config of app {app!r} does not load: {broken.message}")
    raise HTTPException(404, f"no app {app!r}")


def _filter(
    visible: VisibleDep,
    app: str | None = None,
    user: str | None = None,
    action: str | None = None,
    status: str | None = None,
    lifecycle: str | None = None,
    cycle: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AppConfig], LogFilter]:
    """The log filters of the page's query string (a dependency of both log endpoints)."""
    where = LogFilter(
        apps=(app,) if app else (),
        user=user or None,
        action=action,
        status=status,
        lifecycle=lifecycle,
        cycle_id=cycle,
        since=since,
        until=until,
    )
    return _chosen(visible, app or None), where


Filtered = Annotated[tuple[list[AppConfig], LogFilter], Depends(_filter)]


def inert_cell(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate (``=HYPERLINK(...)`` in a display name) gets a
    leading apostrophe, which spreadsheets show as text and do not evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return f"'{value}"
    return value


def _log_row(row: dict[str, Any], run_url: Callable[[str, str], str], dag_ids: dict[str, str]) -> LogRow:
    dag_id = dag_ids.get(row["app"])
    return LogRow(**row, run_url=run_url(dag_id, row["cycle_id"]) if dag_id else None)


@router.get("/api/log")
def log(
    catalog: CatalogDep,
    filtered: Filtered,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LogPage:
    configs, where = filtered
    dag_ids = {c.app: c.dag_id for c in configs}
    grouped = catalog.by_store(configs)
    if len(grouped) > 1 and not where.apps:
        raise HTTPException(400, "apps use different state stores: choose an app")
    if not grouped:
        return LogPage(rows=[], next_before_id=None)
    store, apps_ = grouped[0]
    rows, cursor = store.search_log(replace(where, apps=apps_), before_id, limit)
    return LogPage(rows=[_log_row(r, catalog.host.run_url, dag_ids) for r in rows], next_before_id=cursor)


@router.get("/api/log.csv")
def log_csv(catalog: CatalogDep, filtered: Filtered) -> StreamingResponse:
    configs, where = filtered
    grouped = catalog.by_store(configs)

    def rows() -> Iterator[dict[str, Any]]:
        for store, apps_ in grouped:
            yield from store.iter_log(replace(where, apps=apps_))

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for sent, row in enumerate(islice(rows(), CSV_MAX_ROWS), 1):
            modified = row["modified_properties"]
            fields = {
                **row,
                "time": row["time"].isoformat(),
                "modified_properties": modified and json.dumps(modified),
            }
            writer.writerow([inert_cell(fields[c]) for c in CSV_COLUMNS])
            if sent % 500 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    name = f"provisioning-log-{where.apps[0] if where.apps else 'all'}.csv"
    return StreamingResponse(
        lines(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/api/cycles")
def cycles(
    catalog: CatalogDep, visible: VisibleDep, app: str, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[CycleBar]:
    """Per cycle, oldest first: succeeded, failed and staged actions (the chart), status and run link."""
    (config,) = _chosen(visible, app)
    store = catalog.store(config)
    return [
        CycleBar(**totals, run_url=catalog.host.run_url(config.dag_id, totals["cycle_id"]))
        for totals in store.cycle_totals(app, limit)
    ]
