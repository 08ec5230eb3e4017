"""Alerts through Airflow callbacks and notifiers, delivered to a real SMTP server and a real HTTP
receiver on 127.0.0.1, across real dag.test() runs: sent once per problem, never a storm, never a
secret, and a word when the problem is over."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.state import StateStore
from tests.airflow.dag_runs import run_dag, task_states
from tests.conftest import connection_env, demo_config
from tests.support.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.airflow

WRONG_TOKEN = "revoked-secret-token-7731"


@pytest.fixture
def receivers(monkeypatch):
    with SmtpReceiver() as smtp, HttpReceiver() as http:
        for conn_id, fields in (
            (
                "smtp_alerts",
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "extra": {
                        "disable_tls": True,
                        "disable_ssl": True,
                        "from_email": "airflow@contoso.example",
                    },
                },
            ),
            ("slack_alerts", {"conn_type": "http", "host": f"{http.url}/slack"}),
            ("hook_alerts", {"conn_type": "http", "host": f"{http.url}/hook", "password": "hook-secret"}),
        ):
            monkeypatch.setenv(*connection_env(conn_id, **fields))
        yield smtp, http


def wiki_with_alerts(**alerts):
    return {
        **demo_config("demo_wiki"),
        "retries": 0,
        "alerts": {
            "email": {"to": ["idm-team@contoso.example"], "smtp_conn_id": "smtp_alerts"},
            "slack": {"conn_id": "slack_alerts"},
            "webhook": {"conn_id": "hook_alerts"},
            **alerts,
        },
    }


def test_quarantine_is_mailed_once_and_its_end_too(
    airflow_db, install_app, directory_db, scim_app, receivers, tmp_path
):
    smtp, http = receivers
    install_app(wiki_with_alerts(), directory=directory_db, scim=scim_app, token=WRONG_TOKEN)
    store = StateStore(f"sqlite:///{tmp_path / 'state_demo_wiki.db'}")

    refused = run_dag("demo_wiki")
    assert str(refused.state) == "failed"
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert subjects == [
        "[provisioning] demo_wiki: app in quarantine",
        "[provisioning] demo_wiki: provisioning cycle failed",
    ]
    mail = next(t for t in smtp.texts() if "quarantine" in t.splitlines()[0])
    assert "the app refused our credentials" in mail
    assert f"/dags/provision_demo_wiki/runs/{refused.run_id.replace(':', '%3A').replace('+', '%2B')}" in mail
    assert WRONG_TOKEN not in "".join(smtp.texts()) + str(http.posts)
    hooks = http.bodies("/hook")
    assert {(h["problem"], h["state"]) for h in hooks} == {("quarantine", "new"), ("cycle_failed", "new")}
    assert all(h["app"] == "demo_wiki" and h["run_id"] == refused.run_id for h in hooks)
    assert http.headers[-1]["Authorization"] == "Bearer hook-secret"
    (slack,) = [b for b in http.bodies("/slack") if "quarantine" in b["text"]]
    assert slack["text"].startswith("*[provisioning] demo_wiki: app in quarantine*")

    # quarantined runs keep being skipped: no alert storm
    for _ in range(3):
        skipped = run_dag("demo_wiki")
        assert set(task_states(skipped).values()) == {"skipped"}
    assert len(smtp.messages) == 2 and len(http.posts) == 4

    # fixed and restarted: both problems are over, said once
    install_app(wiki_with_alerts(), directory=directory_db, scim=scim_app)
    assert str(run_dag("demo_wiki", restart="quarantine").state) == "success"
    assert str(run_dag("demo_wiki").state) == "success"
    resolved = sorted(m["Subject"] for m in smtp.messages[2:])
    assert resolved == [
        "[provisioning] demo_wiki: resolved: app in quarantine",
        "[provisioning] demo_wiki: resolved: provisioning cycle failed",
    ]
    assert {n["problem"]: n["open"] for n in store.notifications("demo_wiki").values()} == {
        "quarantine": False,
        "cycle_failed": False,
    }


def test_staged_deletions_alert_through_the_webhook_only_when_configured(
    airflow_db, install_app, directory_db, scim_app, receivers
):
    from sqlalchemy import create_engine, text

    smtp, http = receivers
    install_app(
        wiki_with_alerts(on=["deletions_staged"], email=None, slack=None),
        directory=directory_db,
        scim=scim_app,
    )
    assert str(run_dag("demo_wiki").state) == "success"
    with create_engine(f"sqlite:///{directory_db}").begin() as conn:
        conn.execute(text("delete from app_assignments where principal_id = 'g-division-tech'"))
    held = run_dag("demo_wiki")
    held_again = run_dag("demo_wiki")
    assert str(held.state) == str(held_again.state) == "failed"
    (notice,) = http.bodies("/hook")
    assert notice["problem"] == "deletions_staged" and notice["state"] == "new"
    assert "approve=" in notice["message"] and notice["counts"]["staged"] > 10
    assert smtp.messages == [] and http.bodies("/slack") == []


def test_the_dag_alert_is_sent_from_airflow_dags_test_too(
    airflow_db, install_app, directory_db, scim_app, receivers
):
    """`airflow dags test` (how people try a DAG) hands the DAG's callback a SerializedDAG, from
    which Airflow's notifiers ask a template environment it does not have (apache/airflow#64649):
    the callback failed and the quarantine was never announced."""
    _smtp, http = receivers
    install_app(
        wiki_with_alerts(email=None, slack=None), directory=directory_db, scim=scim_app, token=WRONG_TOKEN
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", "provision_demo_wiki"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert "Callback failed" not in output, output[-3000:]
    hooks = http.bodies("/hook")
    assert {(h["problem"], h["state"]) for h in hooks} == {("quarantine", "new"), ("cycle_failed", "new")}
    assert WRONG_TOKEN not in str(http.posts)
