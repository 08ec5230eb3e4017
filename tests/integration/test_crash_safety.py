"""SIGKILL the apply process mid-cycle, then resume: no duplicate account, nothing lost."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from provisioning.cycle import steps
from provisioning.state import tables
from tests.conftest import REPO
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    Harness,
    directory_groups,
    expected_members,
)


def start_apply(directory_db, state_db, scim_app, *options: str) -> subprocess.Popen:
    """cycle-1's apply in its own process (tests/support/run_apply.py), for a test to kill."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.run_apply",
            str(directory_db),
            str(state_db),
            scim_app.url,
            scim_app.token,
            "cycle-1",
            *options,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def killed_apply(directory_db, scim_app, tmp_path):
    """Plan cycle-1, start apply in a subprocess and kill -9 it while creates are in flight."""
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    ctx = harness.context("cycle-1")
    for step in (steps.extract_assignments, steps.match, steps.diff):
        step(ctx)
    scim_app.proxy.delay_after = 0.3  # the app acts, then answers slowly: a kill lands mid-request
    process = start_apply(directory_db, tmp_path / "state.db", scim_app)
    deadline = time.monotonic() + 60
    while scim_app.proxy.count("POST", 201) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # Requests the dead process had sent still reach the app; Airflow's retry delay lets them land
    # before a retry. (Were one to land later, the resumed create gets 409 and links: still no duplicate.)
    scim_app.proxy.wait_idle()
    scim_app.proxy.delay_after = 0
    in_app = len(scim_app.users())
    recorded = harness.store.outbox_counts("demo_wiki", "cycle-1")[("user", "create", "succeeded")]
    expected = len(harness.expected_wiki_users())
    # the kill really interrupted work: accounts exist whose creation was never recorded
    assert recorded < in_app < expected, (recorded, in_app, expected)
    return harness


def assert_exactly_desired(harness):
    accounts = harness.scim_app.users()
    names = Counter(a["userName"].lower() for a in accounts)
    assert [n for n, c in names.items() if c > 1] == []
    assert set(names) == set(harness.expected_wiki_users().index)
    assert all(a["active"] for a in accounts)
    assert harness.scim_app.proxy.count("POST", 409) == 0  # found by looking, not by colliding


def test_rerunning_the_killed_apply_finishes_the_outbox(killed_apply):
    harness = killed_apply
    ctx = harness.context("cycle-1")
    summary = steps.apply(ctx)
    assert summary["failed"] == 0
    assert steps.report(ctx)["status"] == "succeeded"
    assert_exactly_desired(harness)
    log = harness.store.log("demo_wiki", "cycle-1")
    assert any("interrupted" in (r["detail"] or "") for r in log)
    assert all(r["status"] == "success" for r in log)
    assert len({r["source_id"] for r in log}) == len(log)  # one row per object per cycle


def test_the_next_cycle_recovers_after_a_killed_apply(killed_apply):
    harness = killed_apply
    harness.cycles = 1
    # Airflow marks the dead apply failed and runs cycle-1's report, which frees the run lease
    assert steps.report(harness.context("cycle-1"))["status"] == "failed"
    result = harness.cycle()  # cycle-2 re-matches what cycle-1 created before dying
    assert result["match"]["matched"] > 0
    assert result["diff"]["adopted_in_flight"] > 0  # requests that were out are verified, not re-planned
    assert result["report"]["status"] == "succeeded"
    assert_exactly_desired(harness)
    assert harness.store.open_actions("demo_wiki", "cycle-1") == []  # adopted or superseded, none dangling


def test_killing_apply_during_the_group_phase_leaves_no_duplicate_group_or_lost_member(
    directory_db, scim_app, tmp_path
):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.configure(groups=DEPARTMENTS_AND_DIVISIONS)
    ctx = harness.context("cycle-1")
    for step in (steps.extract_assignments, steps.match, steps.diff):
        step(ctx)
    process = start_apply(directory_db, tmp_path / "state.db", scim_app, "groups")
    scim_app.proxy.delay_after = 0.3  # the app acts, then answers slowly: a kill lands mid-request
    users = len(harness.expected_wiki_users())
    deadline = time.monotonic() + 60
    while scim_app.proxy.count("POST", 201) < users + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    scim_app.proxy.wait_idle()
    scim_app.proxy.delay_after = 0
    # the kill really interrupted the group phase: groups exist whose creation was never recorded
    assert len(harness.store.links("demo_wiki", "group")) < len(scim_app.groups_list())

    summary = steps.apply(ctx)  # Airflow clears the task: the same outbox, resumed
    assert summary["failed"] == 0 and steps.report(ctx)["status"] == "succeeded"
    groups = scim_app.groups_list()
    assert Counter(g["displayName"] for g in groups) == Counter(directory_groups(harness).values())
    by_name = {g["displayName"]: g for g in groups}
    for group_id, name in directory_groups(harness).items():
        assert scim_app.member_names(by_name[name]) == expected_members(harness, group_id), name
    assert_exactly_desired(harness)


def test_the_app_going_away_mid_cycle_ends_in_the_desired_state_once_it_is_back(
    directory_db, scim_app, tmp_path
):
    import threading

    from tests.support.fault_proxy import Chaos

    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.configure(groups=DEPARTMENTS_AND_DIVISIONS)
    scim_app.proxy.delay_after = 0.05
    done = threading.Event()

    def outage() -> None:  # after 30 creates every connection is cut, answered or not
        while scim_app.proxy.count("POST", 201) < 30 and not done.is_set():
            time.sleep(0.01)
        scim_app.proxy.chaos = Chaos(rate=1.0, kinds=("drop", "drop_after"))

    threading.Thread(target=outage, daemon=True).start()
    first = harness.cycle_tolerant()
    done.set()
    assert first["report"]["status"] == "failed" and first["report"]["quarantine"]["quarantined"]
    scim_app.proxy.chaos = None  # the app is back
    scim_app.proxy.delay_after = 0
    harness.store.update_app_status(
        "demo_wiki", retry_at=harness.store.app_status("demo_wiki")["quarantined_since"]
    )
    with harness.store.engine.begin() as conn:  # and time has passed for escrow too
        conn.execute(tables.escrow.update().values(next_retry_at=tables.escrow.c.first_failed_at))
    second = harness.cycle()
    assert second["report"]["status"] == "succeeded"
    assert_exactly_desired(harness)
    groups = scim_app.groups_list()
    assert Counter(g["displayName"] for g in groups) == Counter(directory_groups(harness).values())
