"""Secrets never leave: real DAG runs against a real SCIM server behind a proxy that echoes every
failed request in its error body (the Authorization header and the request's JSON, sensitive
values included), as careless apps do. After rejected creates, a 409 on an account that already
exists, rejected updates and a refused token, neither the token nor any value of the sensitive
mapping appears where people or other systems read: the provisioning log, escrow, cycle errors,
alerts and notifications in the state store, XComs, the runs' output and task logs, the mail and
webhook alerts and the CSV export.

The outbox's changes and the links' snapshots hold the sensitive values by design (a value must
be kept to be sent, and to notice when it changes); they are the only places allowed to.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from provisioning.glue.ui.app import create_app
from provisioning.state import StateStore
from tests.airflow.dag_runs import run_dag, xcoms
from tests.conftest import connection_env, demo_config
from tests.support.fault_proxy import Fault
from tests.support.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.airflow

MARK = "Sensitive-"  # every user's title, the sensitive mapping's value, starts with it
# where a value must be kept to be sent or compared: not a place anyone reads
HOLDS_VALUES = {
    ("outbox", "payload"),
    ("outbox", "attributes"),
    ("links", "attributes"),
    ("artifacts", "data"),
}
HOLDS_VALUES |= {("retired_links", "attributes")}


class Reader:
    """The page's host for the CSV export: one signed-in user who may read every app."""

    def __init__(self, state_url: str):
        self.state_url = state_url

    async def authenticate(self, request: Request) -> None:
        request.state.user = "auditor"

    def readable_dag_ids(self, user: str, dag_ids: set[str]) -> set[str]:
        return dag_ids

    def paused(self) -> dict[str, bool]:
        return {}

    def run_url(self, dag_id: str, run_id: str) -> str:
        return f"https://airflow.test/{dag_id}/{run_id}"

    def state_store_url(self, conn_id: str) -> str:
        return self.state_url


def readable_state(path: Path) -> str:
    """Every value of every table of the state store, but the columns that must hold values."""
    engine = create_engine(f"sqlite:///{path}")
    out = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for column in [c["name"] for c in inspect(engine).get_columns(table)]:
                if (table, column) in HOLDS_VALUES:
                    continue
                out += [str(v) for (v,) in conn.execute(text(f'select "{column}" from "{table}"'))]
    return "\n".join(out)


def test_an_app_that_echoes_requests_gets_no_secret_stored_logged_or_sent(
    airflow_db, install_app, directory_db, scim_app, tmp_path, capfd, monkeypatch
):
    with create_engine(f"sqlite:///{directory_db}").begin() as conn:
        conn.execute(text(f"update users set jobTitle = '{MARK}' || id"))
    config = {**demo_config("demo_wiki"), "retries": 0}
    for mapping in config["users"]["mappings"]:
        if mapping["target"] == "title":
            mapping["sensitive"] = True
    with HttpReceiver() as http, SmtpReceiver() as smtp:
        monkeypatch.setenv(*connection_env("hook_alerts", conn_type="http", host=f"{http.url}/hook"))
        monkeypatch.setenv(
            *connection_env(
                "smtp_alerts",
                conn_type="smtp",
                host="127.0.0.1",
                port=smtp.port,
                extra={"disable_tls": True, "disable_ssl": True, "from_email": "airflow@contoso.example"},
            )
        )
        config["alerts"] = {
            "webhook": {"conn_id": "hook_alerts"},
            "email": {"to": ["idm-team@contoso.example"], "smtp_conn_id": "smtp_alerts"},
            "on": ["cycle_failed", "objects_failed", "quarantine"],
        }
        install_app(config, directory=directory_db, scim=scim_app)
        store = StateStore(f"sqlite:///{tmp_path / 'state_demo_wiki.db'}")
        scim_app.proxy.echo_errors = True
        # the app makes the first account, then answers 409 (the client finds it and links it);
        # the next three creates are refused
        scim_app.proxy.inject(Fault(409, methods=("POST",), path="/Users", after_upstream=True))
        scim_app.proxy.inject(Fault(400, methods=("POST",), path="/Users"), times=3)
        runs = [run_dag("demo_wiki")]

        with create_engine(f"sqlite:///{directory_db}").begin() as conn:
            conn.execute(text(f"update users set jobTitle = '{MARK}new-' || id"))
        scim_app.proxy.inject(Fault(400, methods=("PATCH",), path="/Users"), times=3)
        runs.append(run_dag("demo_wiki"))

        install_app(config, directory=directory_db, scim=scim_app, token="revoked-token-4411")
        with create_engine(f"sqlite:///{directory_db}").begin() as conn:  # work to do: a request
            conn.execute(text(f"update users set jobTitle = '{MARK}third-' || id"))
        runs.append(run_dag("demo_wiki"))
        alerts = str(http.posts) + "\n".join(smtp.texts())

    log = store.log("demo_wiki")
    assert any(r["status"] == "failure" and "400" in (r["error_code"] or "") for r in log)  # echoed
    assert any("409" in (r["detail"] or "") for r in log)
    assert any(r["action"] == "update" and r["status"] == "failure" for r in log)
    assert [str(r.state) for r in runs] == ["failed", "failed", "failed"] and "cycle_failed" in alerts
    assert "app in quarantine" in alerts  # the mails went out too
    assert store.app_status("demo_wiki")["quarantined"]  # the revoked token was refused
    csv = TestClient(create_app(Reader(f"sqlite:///{tmp_path / 'state_demo_wiki.db'}"))).get("/api/log.csv")
    assert csv.status_code == 200
    output = capfd.readouterr()
    task_logs = "\n".join(
        p.read_text(errors="replace") for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*.log") if p.is_file()
    )
    read_by_someone = {
        "state store": readable_state(tmp_path / "state_demo_wiki.db"),
        "XComs": str([xcoms(r) for r in runs]),
        "run output": output.out + output.err,
        "task logs": task_logs,
        "alerts": alerts,
        "CSV": csv.text,
    }
    for where, seen in read_by_someone.items():
        assert scim_app.token not in seen, where
        assert "revoked-token-4411" not in seen, where
        assert MARK not in seen, where
    assert "***" in read_by_someone["state store"]  # the echoes were there, and masked
