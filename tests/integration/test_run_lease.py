"""One run of an app at a time, and links bound to the endpoint they were made in, against real
SCIM servers and a real SQLite state store: overlapping runs, a stale attempt still running
beside its retry, in-flight actions adopted by the next plan, a connection pointed elsewhere."""

import time
from collections import Counter

import httpx
import pytest

from provisioning.cycle import steps
from provisioning.cycle.guards import CycleRefused, CycleSkipped
from provisioning.cycle.options import RunOptions
from provisioning.demo.scim_server import ScimServer
from tests.conftest import TOKEN, ScimApp
from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS, STEPS, Harness
from tests.integration.test_crash_safety import start_apply
from tests.support.fault_proxy import Fault, FaultProxy


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.configure(lease={"wait_seconds": 0})
    return harness


def duplicates(scim_app: ScimApp) -> list[str]:
    names = Counter(u["userName"].lower() for u in scim_app.users())
    return [n for n, c in names.items() if c > 1]


def test_a_second_run_is_skipped_while_the_first_holds_the_lease(harness):
    first, second = harness.context("scheduled"), harness.context("backfill")
    for step in STEPS[:3]:
        step(first)
    steps.extract_assignments(second)
    with pytest.raises(CycleSkipped, match=r"another run of demo_wiki \(scheduled\) holds the run lease"):
        steps.match(second)
    assert harness.store.cycle("demo_wiki", "backfill")["status"] == "skipped"
    steps.apply(first)
    steps.report(first)
    # once the first run is done, the next one plans from what it applied: nothing twice
    harness.scim_app.proxy.reset()
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert harness.scim_app.proxy.count("POST") == 0 and duplicates(harness.scim_app) == []
    assert len(harness.scim_app.users()) == len(harness.expected_wiki_users())


def test_a_second_run_waits_for_the_lease_when_configured_to(harness):
    harness.configure(lease={"wait_seconds": 30})
    first = harness.context("first")
    for step in STEPS[:3]:
        step(first)
    harness.store.leases.release("demo_wiki", "first")  # as report does once apply is over
    started = time.monotonic()
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert time.monotonic() - started < 30


def test_a_retried_apply_takes_over_and_the_stale_attempt_stops(harness, directory_db, scim_app, tmp_path):
    ctx = harness.context("cycle-1")
    for step in STEPS[:3]:
        step(ctx)
    scim_app.proxy.delay_after = 0.2  # the first attempt is slow, as on a worker that lost its host
    stale = start_apply(directory_db, tmp_path / "state.db", scim_app)
    deadline = time.monotonic() + 60
    while scim_app.proxy.count("POST", 201) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    scim_app.proxy.delay_after = 0
    retry = steps.apply(harness.context("cycle-1"))  # Airflow's retry, on another worker
    assert stale.wait(timeout=60) != 0  # refused by the fence: LeaseLost, not a second writer
    scim_app.proxy.wait_idle()
    steps.report(harness.context("cycle-1"))
    assert retry["failed"] == 0
    assert duplicates(scim_app) == []
    assert {u["userName"] for u in scim_app.users()} == set(harness.expected_wiki_users().index)


def test_in_flight_actions_are_adopted_by_the_next_plan_not_superseded(harness):
    ctx = harness.context("cycle-1")
    for step in STEPS[:3]:
        step(ctx)
    rows = harness.store.open_actions("demo_wiki", "cycle-1")[:10]
    harness.store.mark_in_flight([r.change_id for r in rows])  # a crash after the requests went out
    harness.store.leases.release("demo_wiki", "cycle-1")
    result = harness.cycle()
    assert result["diff"]["adopted_in_flight"] == 10
    assert result["report"]["status"] == "succeeded"
    assert duplicates(harness.scim_app) == []
    assert len(harness.scim_app.users()) == len(harness.expected_wiki_users())


@pytest.fixture
def other_tenant():
    with ScimServer(token=TOKEN) as server, FaultProxy(server.url) as proxy:
        yield ScimApp(server, proxy)


def test_a_connection_pointed_at_another_endpoint_writes_nothing_there(harness, other_tenant, scim_app):
    harness.cycle()
    harness.scim_app = other_tenant
    leaving = "select id from users where department = 'Design' and accountEnabled = 1 limit 5"
    leavers = harness.upns(f"select userPrincipalName from users where id in ({leaving})")
    harness.sql(f"update users set accountEnabled = 0 where id in ({leaving})")
    result = harness.cycle_tolerant()
    assert isinstance(result["match"], CycleRefused)
    message = str(result["match"])
    assert f"now points at http://127.0.0.1:{other_tenant.proxy.url.rsplit(':', 1)[1]}" in message
    assert "restart=relink" in message
    assert other_tenant.proxy.writes() == [] and result["report"]["status"] == "failed"

    # a deliberate re-link: forget the old links, match or create everyone in the new endpoint
    harness.options = RunOptions(restart="relink", triggered_by="dana")
    relinked = harness.cycle()
    assert relinked["report"]["status"] == "succeeded"
    assert {u["userName"] for u in other_tenant.users()} == set(harness.expected_wiki_users().index)
    before = len(scim_app.proxy.writes())
    harness.options = RunOptions()
    harness.cycle()
    assert len(scim_app.proxy.writes()) == before  # the old endpoint is never written again

    # moving back: the first endpoint's links return (verified by a full reconcile), so people who
    # left meanwhile are disabled there too, and nobody is created twice
    harness.scim_app = scim_app
    harness.options = RunOptions(restart="relink", triggered_by="dana")
    back = harness.cycle()
    assert back["report"]["status"] == "succeeded" and back["match"]["matched"] == 0
    accounts = scim_app.by_username()
    assert duplicates(scim_app) == []
    assert {n for n, a in accounts.items() if a["active"]} == set(harness.expected_wiki_users().index)
    assert len(leavers) == 5 and all(not accounts[n]["active"] for n in leavers)


def test_a_relink_that_failed_and_a_connection_pointed_back_cannot_orphan_accounts(
    harness, other_tenant, scim_app
):
    """A relink retires the first endpoint's links even when its run then fails (the new endpoint
    answers 500). Pointing the connection back without a relink would leave runs with links for
    nobody who left scope meanwhile: their accounts would stay active for good. Such a run is
    refused; a relink back brings the links home and the leavers are disabled."""
    harness.cycle()
    harness.scim_app = other_tenant
    other_tenant.proxy.inject(Fault(500), times=3)
    harness.options = RunOptions(restart="relink", triggered_by="dana")
    failed = harness.cycle_tolerant()
    assert failed["report"]["status"] == "failed" and other_tenant.users() == []

    harness.scim_app = scim_app  # the operator puts the connection back, without a relink
    harness.options = RunOptions()
    leaving = "select id from users where department = 'Design' and accountEnabled = 1 limit 3"
    leavers = harness.upns(f"select userPrincipalName from users where id in ({leaving})")
    harness.sql(f"update users set accountEnabled = 0 where id in ({leaving})")
    writes = len(scim_app.proxy.writes())
    refused = harness.cycle_tolerant()
    assert isinstance(refused["match"], CycleRefused)
    message = str(refused["match"])
    assert "a relink at" in message and "retired the" in message and "restart=relink" in message
    assert len(scim_app.proxy.writes()) == writes

    harness.options = RunOptions(restart="relink", triggered_by="dana")
    back = harness.cycle()
    assert back["report"]["status"] == "succeeded"
    accounts = scim_app.by_username()
    assert len(leavers) == 3 and all(not accounts[n]["active"] for n in leavers)
    assert duplicates(scim_app) == []


def test_an_adopted_create_makes_what_the_new_plan_wants_and_nothing_for_leavers(harness, scim_app):
    """Creates left in flight by a crash (their requests may or may not have reached the app) are
    adopted by the next plan. Meanwhile two of those people were deleted from the directory, and
    one of their accounts had been made by the lost request; a group was renamed. The next run
    creates no account for either leaver and re-enables nothing, links the one the app holds (the
    run after disables it), and makes the group under its new name."""
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    ctx = harness.context("cycle-1")
    for step in STEPS[:3]:
        step(ctx)
    rows = harness.store.open_actions("demo_wiki", "cycle-1")
    creates = [r for r in rows if r.action == "create" and r.object_type == "user"][:4]
    group = next(r for r in rows if r.action == "create" and r.source_id == "g-dept-engineering")
    harness.store.mark_in_flight([r.change_id for r in [*creates, group]])  # a crash, requests out
    harness.store.leases.release("demo_wiki", "cycle-1")
    harness.cycles = 1
    made, lost = creates[0], creates[1]  # the lost request of `made` did reach the app
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        client.post(
            f"{scim_app.server.url}/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": made.attributes["userName"],
                "externalId": made.source_id,
                "active": True,
            },
        ).raise_for_status()
    harness.sql("delete from users where id in (:a, :b)", a=made.source_id, b=lost.source_id)
    harness.sql("update groups set displayName = 'Department Eng Renamed' where id = 'g-dept-engineering'")

    result = harness.cycle()
    assert result["diff"]["adopted_in_flight"] == 5 and result["report"]["status"] == "succeeded"
    accounts = scim_app.by_username()
    assert lost.attributes["userName"] not in accounts  # no account made for a leaver
    assert accounts[made.attributes["userName"]]["active"]  # linked as the app holds it ...
    log = {r["source_id"]: r for r in harness.store.log("demo_wiki", "cycle-2")}
    assert log[lost.source_id]["status"] == "skipped" and log[lost.source_id]["error_code"] == "NotMadeInApp"
    assert log[made.source_id]["status"] == "success" and log[made.source_id]["target_id"]
    assert all(c.attributes["userName"] in accounts for c in creates[2:])
    names = [g["displayName"] for g in scim_app.groups_list()]
    assert "Department Eng Renamed" in names and group.attributes["displayName"] not in names
    assert duplicates(scim_app) == []

    harness.cycle()  # ... and disabled by the next plan, through the deletion guard
    assert not scim_app.by_username()[made.attributes["userName"]]["active"]
