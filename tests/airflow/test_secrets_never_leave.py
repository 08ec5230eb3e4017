"""Secrets never leave: real DAG runs against a real SCIM server behind a proxy that echoes every
failed request in its error body (the Authorization header and the request's JSON, sensitive
values included), as careless apps do. After rejected creates, a 409 on an account that already
exists, rejected updates and a refused token, neither the token nor any value of the sensitive
mapping appears where people or other systems read: the provisioning log, escrow, cycle errors,
alerts and notifications in the state store, XComs, the runs' output and task logs, the mail and
webhook alerts and the CSV export.

An app behind OAuth 2.0 client credentials gets full cycles the same way: a real authorization
server (Canaille) issues the tokens, a resource server in front of the app checks each with it, and
neither the client secret nor any token issued shows in those places either.

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
from tests.integration.cycle_helpers import Harness
from tests.support.canaille_server import CanailleServer
from tests.support.fault_proxy import BearerGate, Fault
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


def places_people_read(runs: list, state: Path, capfd: pytest.CaptureFixture, alerts: str = "") -> dict:
    """What each place people or other systems read holds after ``runs``, as text."""
    csv = TestClient(create_app(Reader(f"sqlite:///{state}"))).get("/api/log.csv")
    assert csv.status_code == 200
    output = capfd.readouterr()
    task_logs = "\n".join(
        p.read_text(errors="replace") for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*.log") if p.is_file()
    )
    return {
        "state store": readable_state(state),
        "XComs": str([xcoms(r) for r in runs]),
        "run output": output.out + output.err,
        "task logs": task_logs,
        "alerts": alerts,
        "CSV": csv.text,
    }


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
    read_by_someone = places_people_read(runs, tmp_path / "state_demo_wiki.db", capfd, alerts)
    for where, seen in read_by_someone.items():
        assert scim_app.token not in seen, where
        assert "revoked-token-4411" not in seen, where
        assert MARK not in seen, where
    assert "***" in read_by_someone["state store"]  # the echoes were there, and masked


def test_an_oauth_app_is_provisioned_and_no_secret_or_token_is_kept_or_logged(
    airflow_db, install_app, directory_db, scim_app, tmp_path, capfd
):
    with CanailleServer() as canaille:
        client = canaille.register()
        gate = BearerGate(lambda token: canaille.introspect(client, token)["active"], scim_app.token)
        scim_app.proxy.gate = gate
        scim_app.proxy.echo_errors = True
        install_app(
            {**demo_config("demo_wiki"), "retries": 0},
            directory=directory_db,
            scim=scim_app,
            target_connection={
                "password": client.client_secret,
                "extra": {"token_url": canaille.token_url, "client_id": client.client_id, "scope": "openid"},
            },
        )
        expected = Harness(directory_db, scim_app, tmp_path / "unused.db").expected_wiki_users()
        runs = [run_dag("demo_wiki")]
        assert str(runs[0].state) == "success"
        assert set(scim_app.by_username()) == set(expected.index)

        # the app refuses a token in the middle of the next run (revoked): the client fetches a
        # new one and sends the request again
        upn = expected.index[0]
        with create_engine(f"sqlite:///{directory_db}").begin() as conn:
            conn.execute(text("update users set surname='Renamed' where userPrincipalName=:u"), {"u": upn})
        scim_app.proxy.inject(Fault(401, methods=("PATCH",), path="/Users"))
        runs.append(run_dag("demo_wiki"))
        assert str(runs[1].state) == "success"
        assert scim_app.by_username()[upn]["name"]["familyName"] == "Renamed"
        assert scim_app.proxy.statuses()[("PATCH", 401)] == 1
        assert gate.refused == 0  # every token the app was shown was live
        issued = canaille.tokens_issued(client)
    # a token per task that talks to the app, and one more after the 401: never one per request
    assert issued == len(gate.seen) < len(scim_app.proxy.requests) / 10

    read_by_someone = places_people_read(runs, tmp_path / "state_demo_wiki.db", capfd)
    for where, seen in read_by_someone.items():
        assert client.client_secret not in seen, where
        for token in gate.seen:
            assert token not in seen, where
