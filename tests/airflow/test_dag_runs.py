"""Real DAG runs (dag.test) on a real SQLite metadata DB against a real SCIM server."""

from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from provisioning.state import StateStore
from tests.airflow.dag_runs import run_dag, task_states, xcoms
from tests.conftest import demo_config
from tests.integration.cycle_helpers import Harness
from tests.support.fault_proxy import Fault

pytestmark = pytest.mark.airflow


def test_dag_runs_provision_then_make_zero_writes_then_patch_one_change(wiki, directory_db):
    scim_app, oracle, store = wiki
    expected = oracle.expected_wiki_users()

    first = run_dag("demo_wiki")
    assert str(first.state) == "success"
    assert set(scim_app.by_username()) == set(expected.index)
    values = xcoms(first)
    assert values["diff"]["counts"] == {
        "create": len(expected),
        "update": 0,
        "enable": 0,
        "disable": 0,
        "delete": 0,
        "unchanged": 0,
        "skipped": 0,
    }
    assert len(values["diff"]["samples"]["create"]) == 5
    assert values["report"]["status"] == "succeeded"
    groups = len(scim_app.groups())
    assert values["report"]["actions"] == {
        "user": {"create": {"succeeded": len(expected)}},
        "group": {"create": {"succeeded": groups}},
        "membership": {"add_members": {"succeeded": values["diff"]["memberships"]["requests"]}},
    }
    assert store.cycle("demo_wiki", first.run_id)["status"] == "succeeded"

    scim_app.proxy.reset()
    second = run_dag("demo_wiki")
    assert str(second.state) == "success"
    assert scim_app.proxy.writes() == []
    assert xcoms(second)["diff"]["counts"]["unchanged"] == len(expected)

    upn = expected.index[0]
    with create_engine(f"sqlite:///{directory_db}").begin() as conn:
        conn.execute(text("update users set surname='Renamed' where userPrincipalName=:u"), {"u": upn})
        conn.execute(
            text("update users set accountEnabled=0 where userPrincipalName=:u"), {"u": expected.index[1]}
        )
    scim_app.proxy.reset()
    third = run_dag("demo_wiki")
    assert str(third.state) == "success"
    # the two users, and the disabled one leaves its department and division groups
    assert sorted(r.path.split("/")[1] for r in scim_app.proxy.writes() if r.method == "PATCH") == [
        "Groups",
        "Groups",
        "Users",
        "Users",
    ]
    assert len(scim_app.proxy.writes()) == 4
    accounts = scim_app.by_username()
    assert accounts[upn]["name"]["familyName"] == "Renamed"
    assert accounts[expected.index[1]]["active"] is False
    log = store.log("demo_wiki", third.run_id)
    assert Counter((r["action"], r["status"]) for r in log) == {
        ("update", "success"): 1,
        ("disable", "success"): 1,
        ("remove_members", "success"): 2,
        ("note", "skipped"): 2,  # the two groups say which of their members the wiki does not provision
    }


def test_failed_actions_fail_the_run_but_report_still_runs(wiki):
    scim_app, oracle, store = wiki
    scim_app.proxy.inject(Fault(400, methods=("POST",)), times=1000)  # every create is refused
    run = run_dag("demo_wiki")
    assert str(run.state) == "failed"
    states = task_states(run)
    assert states["apply"] == "failed" and states["report"] == "failed"  # ran, and failed the run
    summary = store.cycle("demo_wiki", run.run_id)
    assert summary["status"] == "failed"
    assert summary["summary"]["actions"]["user"] == {"create": {"failed": len(oracle.expected_wiki_users())}}
    assert xcoms(run)["report"]["status"] == "failed"
    assert scim_app.users() == []


def test_a_quarantined_app_skips_its_runs_until_restarted(
    airflow_db, install_app, directory_db, scim_app, tmp_path
):
    install_app(
        {**demo_config("demo_wiki"), "retries": 0}, directory=directory_db, scim=scim_app, token="revoked"
    )
    store = StateStore(f"sqlite:///{tmp_path / 'state_demo_wiki.db'}")
    refused = run_dag("demo_wiki")
    assert str(refused.state) == "failed"
    assert task_states(refused) == {
        "extract_assignments": "success",
        "match": "failed",  # at once: no retry can fix credentials
        "diff": "upstream_failed",
        "apply": "upstream_failed",
        "report": "failed",
    }
    status = store.app_status("demo_wiki")
    assert status["quarantined"] and "the app refused our credentials" in status["quarantine_reason"]

    skipped = run_dag("demo_wiki")
    assert set(task_states(skipped).values()) == {"skipped"}
    cycle = store.cycle("demo_wiki", skipped.run_id)
    assert cycle["status"] == "skipped" and "is in quarantine since" in cycle["summary"]["reason"]
    assert scim_app.users() == []

    install_app(
        {**demo_config("demo_wiki"), "retries": 0}, directory=directory_db, scim=scim_app
    )  # token fixed
    restarted = run_dag("demo_wiki", restart="quarantine")
    assert str(restarted.state) == "success"
    assert store.app_status("demo_wiki")["quarantined"] is False
    assert len(scim_app.users()) == len(
        Harness(directory_db, scim_app, tmp_path / "x.db").expected_wiki_users()
    )
    (alert,) = store.alerts("demo_wiki", restarted.run_id)
    assert alert["message"].startswith("restarted by dag_test (restart=quarantine): quarantine cleared")


def test_staged_deletions_fail_the_run_and_an_approval_naming_the_hold_applies_them(wiki, directory_db):
    scim_app, _, store = wiki
    run_dag("demo_wiki")
    with create_engine(f"sqlite:///{directory_db}").begin() as conn:
        conn.execute(text("delete from app_assignments where principal_id = 'g-division-tech'"))
    held = run_dag("demo_wiki")
    assert str(held.state) == "failed" and task_states(held)["report"] == "failed"
    assert xcoms(held)["report"]["status"] == "staged"
    assert all(u["active"] for u in scim_app.users())

    approved = run_dag("demo_wiki", approve=held.run_id)  # the hold the alert named
    assert str(approved.state) == "success"
    disabled = [r for r in store.log("demo_wiki", approved.run_id) if r["action"] == "disable"]
    assert disabled and all(
        f"approved by dag_test (held by cycle {held.run_id})" in r["detail"] for r in disabled
    )
    assert sum(not u["active"] for u in scim_app.users()) == len(disabled)


def test_trigger_params_dry_run_then_on_demand_through_airflow(wiki):
    scim_app, oracle, store = wiki
    expected = sorted(oracle.expected_wiki_users().index)

    dry = run_dag("demo_wiki", dry_run=True)
    assert str(dry.state) == "success"
    assert scim_app.proxy.writes() == [] and scim_app.users() == []
    report = xcoms(dry)["report"]
    assert report["status"] == "dry_run" and report["would"]["user"]["create"] == len(expected)
    assert xcoms(dry)["apply"] == {"attempted": 0, "succeeded": 0, "failed": 0, "dry_run": True}

    one = run_dag("demo_wiki", users=[expected[0]])
    assert str(one.state) == "success"
    assert set(scim_app.by_username()) == {expected[0]}
    assert scim_app.groups() == {}  # only users were named

    unknown = run_dag("demo_wiki", users=["nobody@contoso.example"])
    assert str(unknown.state) == "failed"
    assert task_states(unknown)["extract_assignments"] == "failed"  # at once, no retries
    assert (
        "no directory user with id or userName 'nobody@contoso.example'"
        in (store.cycle("demo_wiki", unknown.run_id)["error"])
    )


def test_invalid_params_are_refused_before_a_run_starts(wiki):
    from airflow.sdk.definitions.param import ParamValidationError

    scim_app, _, _ = wiki
    for bad in ({"restart": "sometimes"}, {"users": "not-a-list"}, {"dry_run": "yes"}):
        with pytest.raises(ParamValidationError):
            run_dag("demo_wiki", **bad)
    assert scim_app.proxy.requests == []
