"""Rerun and backfill semantics with real DAG runs: clearing a failed ``apply`` resumes its
outbox, clearing a whole run recomputes from current state, and runs for past intervals (what
``airflow backfill create`` makes) reconcile today's state instead of replaying old ones.

A scheduler is not started here: re-running one task of an existing run is done with
``airflow tasks test <dag> <task> <run_id>`` (the same operator, context and run id a cleared
task gets); clearing a whole run is the five tasks so re-run in order under the same run id.
"""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.airflow.dag_runs import load_dag, run_dag, task_states, xcoms
from tests.support.fault_proxy import Fault

pytestmark = pytest.mark.airflow


def airflow_task(task_id: str, run_id: str) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "airflow"),
            "tasks",
            "test",
            "provision_demo_wiki",
            task_id,
            run_id,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_clearing_a_failed_apply_resumes_its_outbox_then_a_cleared_run_recomputes(wiki):
    scim_app, oracle, store = wiki
    expected = set(oracle.expected_wiki_users().index)
    scim_app.proxy.inject(Fault(401, methods=("POST",)))  # the app refuses us mid-apply

    failed = run_dag("demo_wiki")
    assert str(failed.state) == "failed" and task_states(failed)["apply"] == "failed"
    pending = store.open_actions("demo_wiki", failed.run_id)
    assert pending and len(scim_app.users()) < len(expected)

    airflow_task("apply", failed.run_id)  # clear apply (and report, its downstream)
    airflow_task("report", failed.run_id)
    accounts = [u["userName"] for u in scim_app.users()]
    assert sorted(accounts) == sorted(expected)  # everyone, nobody twice
    assert store.open_actions("demo_wiki", failed.run_id) == []
    assert store.cycle("demo_wiki", failed.run_id)["status"] == "succeeded"
    assert store.app_status("demo_wiki")["quarantined"] is False

    # clearing the whole run recomputes from current state, under the same run id: nothing to do
    scim_app.proxy.reset()
    for task_id in ("extract_assignments", "match", "diff", "apply", "report"):
        airflow_task(task_id, failed.run_id)
    assert scim_app.proxy.writes() == []
    assert store.cycle("demo_wiki", failed.run_id)["summary"]["status"] == "succeeded"


def test_runs_for_past_intervals_reconcile_current_state(wiki, directory_db):
    scim_app, oracle, _ = wiki
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    leaver = sorted(oracle.expected_wiki_users().index)[0]
    with create_engine(f"sqlite:///{directory_db}").begin() as conn:
        conn.execute(text("update users set accountEnabled = 0 where userPrincipalName = :u"), {"u": leaver})
    runs = []
    for i in range(3):  # three ten-minute intervals of three days ago, as a backfill would create
        scim_app.proxy.reset()
        runs.append(load_dag("demo_wiki").test(logical_date=start + timedelta(minutes=10 * i)))
        writes = len(scim_app.proxy.writes())
        assert str(runs[-1].state) == "success"
        assert (writes > 0) if i == 0 else (writes == 0), i  # the first reconciles, the rest find nothing
    accounts = scim_app.by_username()
    assert set(accounts) == set(oracle.expected_wiki_users().index)
    assert leaver not in accounts  # today's directory, not the one of three days ago
    assert all(xcoms(r)["report"]["status"] == "succeeded" for r in runs)
