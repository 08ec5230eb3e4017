"""The product on the distributed tier (CeleryExecutor, Redis, PostgreSQL, two workers): the demo
DAGs run with their tasks spread over both workers, a cycle with nothing to do writes nothing,
and a worker killed in the middle of `apply` costs a retry on the other worker, not an account.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.distributed.conftest import DAGS, Tier
from tests.integration.cycle_helpers import assigned_scope

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

WIKI = "provision_demo_wiki"


def assert_each_once(tier: Tier) -> None:
    """Every directory user in scope has exactly one account in each app (found by the attribute
    the app keys people by: the wiki by userName, the CRM by work e-mail, which its pre-existing
    accounts already had)."""
    wiki_scope = assigned_scope(tier.harness, "demo_wiki")
    wiki_names = Counter(u["userName"] for u in tier.apps["demo_wiki"].users())
    assert wiki_names == Counter(wiki_scope)
    crm_scope = assigned_scope(tier.harness, "demo_crm")
    mails = tier.harness.rows("select userPrincipalName, mail from users")
    crm_mails = Counter(e["value"] for u in tier.apps["demo_crm"].users() for e in u.get("emails", []))
    assert {mail for upn, mail in mails if upn in crm_scope} <= set(crm_mails)
    assert max(crm_mails.values()) == 1, "a person has two CRM accounts"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.5)
    return found


def test_both_apps_provisioned_with_tasks_on_both_workers(tier: Tier, first_cycle: dict[str, str]):
    ran_on = set()
    for dag_id, run_id in first_cycle.items():
        assert tier.api.run(dag_id, run_id)["state"] == "success"
        instances = tier.api.task_instances(dag_id, run_id)
        assert {ti["state"] for ti in instances.values()} == {"success"}
        ran_on |= {ti["hostname"] for ti in instances.values()}
    assert ran_on == {"worker-1", "worker-2"}
    assert_each_once(tier)  # the CRM's 30 pre-existing accounts included: linked, not duplicated


def test_a_second_cycle_with_no_change_writes_nothing(tier: Tier, first_cycle: dict[str, str]):
    for app in tier.apps.values():
        app.proxy.reset()
    runs = {dag_id: tier.api.trigger(dag_id) for dag_id in DAGS}
    for dag_id, run_id in runs.items():
        assert tier.api.wait_for_run(dag_id, run_id) == "success"
        cycle = tier.harness.store.cycle(dag_id.removeprefix("provision_"), run_id)
        assert (cycle["status"], cycle["summary"]["actions"]) == ("succeeded", {})
    for name, app in tier.apps.items():
        assert app.proxy.writes() == [], name


def test_a_worker_killed_during_apply_costs_a_retry_not_an_account(tier: Tier, first_cycle: dict[str, str]):
    wiki = tier.apps["demo_wiki"]
    before = assigned_scope(tier.harness, "demo_wiki")
    # the business division (a third of the directory) is assigned to the wiki: ~90 creates
    tier.harness.sql(
        "insert into app_assignments (app, principal_id, principal_type, role) "
        "values ('demo_wiki', 'g-division-business', 'group', null)"
    )
    newcomers = assigned_scope(tier.harness, "demo_wiki") - before
    wiki.proxy.reset()
    wiki.proxy.delay = 1.0  # each call waits a second before it reaches the app: apply takes a while
    run_id = tier.api.trigger(WIKI)
    victim = None
    try:
        apply = wait_for(
            "apply to run",
            lambda: (
                (ti := tier.api.task_instances(WIKI, run_id).get("apply"))
                and ti["state"] == "running"
                and ti["hostname"]
                and ti
            ),
        )
        wait_for("apply to create accounts", lambda: wiki.proxy.count("POST", 201) >= 8, 120)
        # the worker dies with creates in flight: they reach the app after it died, unanswered
        in_flight = wiki.proxy.active
        tier.celery.kill_worker(victim := apply["hostname"])
        wiki.proxy.delay = 0.0
        assert in_flight > 0
        assert tier.api.wait_for_run(WIKI, run_id) == "success"
        tries = tier.api.tries(WIKI, run_id, "apply")
        (survivor,) = {"worker-1", "worker-2"} - {victim}
        assert [(t["hostname"], t["state"]) for t in tries] == [(victim, "failed"), (survivor, "success")]
        assert_each_once(tier)
        # the retry looked up the creates whose answers were lost instead of sending them again
        # (this app would refuse a second create of a userName with 409; others duplicate it)
        creates = Counter(r.status for r in wiki.proxy.requests if r.method == "POST" and r.path == "/Users")
        assert creates == {201: len(newcomers)}
        cycle = tier.harness.store.cycle("demo_wiki", run_id)
        assert cycle["status"] == "succeeded" and cycle["summary"]["failed"] == 0
    finally:
        wiki.proxy.delay = 0.0
        if victim:
            tier.celery.restart_worker(victim)
