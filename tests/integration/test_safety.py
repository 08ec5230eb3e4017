"""Deprovisioning policy, accidental-deletion prevention and quarantine, through whole cycles
against a real SCIM server and a real SQLite directory."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from provisioning.connectors.directory.base import DirectoryError
from provisioning.cycle.options import RunOptions
from provisioning.state import tables
from tests.integration.cycle_helpers import Harness

WITH_DELETE = ["create", "update", "disable", "delete"]


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    return Harness(directory_db, scim_app, tmp_path / "state.db")


def active(harness: Harness) -> set[str]:
    return {name for name, account in harness.scim_app.by_username().items() if account["active"]}


def test_unassigning_a_large_group_is_staged_until_an_operator_approves(harness):
    harness.cycle()
    before = active(harness)
    harness.sql("delete from app_assignments where principal_id = 'g-division-tech'")
    held = harness.cycle()
    # nothing disabled, every held action in the log as staged, an alert raised
    assert active(harness) == before
    report = held["report"]
    assert report["status"] == "staged" and report["staged"] > 20
    staged = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["status"] == "staged"]
    assert len(staged) == report["staged"] and {r["action"] for r in staged} == {"disable"}
    assert staged[0]["error_code"] == "AccidentalDeletionThreshold"
    (alert,) = harness.store.alerts("demo_wiki", "cycle-2")
    assert (
        alert["kind"] == "deletions_staged" and "exceed the accidental-deletion threshold" in alert["message"]
    )
    # still held next cycle: staging is not a one-cycle delay (and the log is not repeated)
    assert harness.cycle()["report"]["status"] == "staged" and active(harness) == before
    assert harness.store.log("demo_wiki", "cycle-3") == []

    harness.options = RunOptions(allow_deletions=True, triggered_by="alice@contoso.example")
    approved = harness.cycle()
    assert approved["report"]["status"] == "succeeded"
    still = harness.upns(
        "select u.userPrincipalName from users u join app_assignments a on a.principal_id = u.id "
        "where a.app = 'demo_wiki' and u.accountEnabled = 1"
    )
    assert active(harness) == still
    disables = [r for r in harness.store.log("demo_wiki", "cycle-4") if r["action"] == "disable"]
    assert len(disables) == report["staged"]
    assert all("approved by alice@contoso.example (held by cycle cycle-3)" in r["detail"] for r in disables)


def test_a_few_leavers_are_not_staged(harness):
    harness.cycle()
    harness.sql("update users set accountEnabled = 0 where id in (select id from users limit 40)")
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded" and result["diff"]["staged"] == 0


def test_an_empty_directory_never_disables_everyone(harness):
    harness.cycle()
    before = active(harness)
    harness.sql("delete from users")
    with pytest.raises(
        DirectoryError, match=r"the directory returned no users while 9\d accounts are linked"
    ):
        harness.cycle()
    assert active(harness) == before


def test_a_directory_that_shrinks_suddenly_is_staged_even_with_the_threshold_off(harness):
    harness.configure(accidental_deletions={"enabled": False})
    harness.cycle()
    before = active(harness)
    harness.sql("delete from users where rowid % 3 != 0")  # a broken view: two thirds of the rows gone
    held = harness.cycle()
    assert held["report"]["status"] == "staged" and active(harness) == before
    assert "the directory's users fell to 100 from 300" in held["diff"]["held_reason"]
    # the guard compares with the last trusted size, so waiting does not wave it through
    assert harness.cycle()["report"]["status"] == "staged"


def test_deleted_directory_users_are_deleted_in_the_app_when_the_policy_says_so(harness):
    harness.configure(
        users={**harness.raw("users"), "actions": WITH_DELETE, "deprovision": {"action": "delete"}}
    )
    harness.cycle()
    gone = sorted(active(harness))[:3]
    harness.sql("delete from users where userPrincipalName in (:a, :b, :c)", a=gone[0], b=gone[1], c=gone[2])
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    assert set(gone).isdisjoint(harness.scim_app.by_username())
    deletes = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["action"] == "delete"]
    assert len(deletes) == 3 and {r["detail"] for r in deletes} == {"deleted from the directory"}
    assert len(harness.store.links("demo_wiki")) == len(harness.expected_wiki_users())


def test_delete_after_days_disables_first_and_deletes_once_the_days_have_passed(harness):
    harness.configure(
        users={
            **harness.raw("users"),
            "actions": WITH_DELETE,
            "deprovision": {"action": "delete", "delete_after_days": 30},
        }
    )
    harness.cycle()
    leaver = sorted(active(harness))[0]
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :u", u=leaver)
    harness.cycle()
    assert harness.scim_app.by_username()[leaver]["active"] is False
    harness.cycle()
    assert leaver in harness.scim_app.by_username()  # 30 days have not passed
    with harness.store.engine.begin() as conn:  # let 31 days pass for this link
        conn.execute(
            update(tables.links)
            .values(disabled_at=datetime.now(UTC) - timedelta(days=31))
            .where(tables.links.c.active.is_(False))
        )
    harness.cycle()
    assert leaver not in harness.scim_app.by_username()


def test_skip_out_of_scope_deletions_leaves_accounts_alone(harness):
    harness.configure(users={**harness.raw("users"), "deprovision": {"action": "skip"}})
    harness.cycle()
    before = active(harness)
    harness.sql("update users set accountEnabled = 0 where id in (select id from users limit 60)")
    harness.scim_app.proxy.reset()
    result = harness.cycle()
    assert active(harness) == before and harness.scim_app.proxy.writes() == []
    assert result["diff"]["counts"]["disable"] == 0


def test_wrong_credentials_quarantine_the_app_with_growing_backoff_and_a_restart_recovers(harness):
    harness.scim_app.token = "revoked-token"
    first = harness.cycle_tolerant()
    quarantine = harness.store.app_status("demo_wiki")
    assert quarantine["quarantined"] is True and quarantine["quarantine_level"] == 1
    assert "the app refused our credentials" in quarantine["quarantine_reason"]
    assert first["report"]["quarantine"]["quarantined"] is True
    (alert,) = [a for a in harness.store.alerts("demo_wiki") if a["kind"] == "quarantine"]
    assert "entered quarantine" in alert["message"]

    harness.scim_app.proxy.reset()
    skipped = harness.cycle()
    assert "in quarantine" in skipped["skipped"] and harness.scim_app.proxy.requests == []
    first_wait = quarantine["retry_at"] - quarantine["quarantined_since"]

    # the retry time comes; the probe fails again: the wait doubles
    harness.store.update_app_status("demo_wiki", retry_at=datetime.now(UTC) - timedelta(seconds=1))
    harness.cycle_tolerant()
    again = harness.store.app_status("demo_wiki")
    assert again["quarantine_level"] == 2
    assert again["retry_at"] - datetime.now(UTC) > first_wait * 1.9
    assert len([a for a in harness.store.alerts("demo_wiki") if a["kind"] == "quarantine"]) == 1

    harness.scim_app.token = harness.scim_app.server.token
    harness.options = RunOptions(restart="quarantine", triggered_by="ops@contoso.example")
    recovered = harness.cycle()
    assert recovered["report"]["status"] == "succeeded"
    assert harness.store.app_status("demo_wiki")["quarantined"] is False
    assert set(harness.scim_app.by_username()) == set(harness.expected_wiki_users().index)
    (restart,) = harness.store.alerts("demo_wiki", "cycle-4")
    assert restart["kind"] == "restart"
    assert restart["message"].startswith(
        "restarted by ops@contoso.example (restart=quarantine): quarantine cleared (was: match: "
    )


def test_most_actions_failing_quarantines_the_app(harness):
    from tests.support.fault_proxy import Fault

    harness.scim_app.proxy.inject(Fault(400, methods=("POST",)), times=1000)
    result = harness.cycle()
    assert result["report"]["quarantine"]["quarantined"] is True
    assert "actions failed" in result["report"]["quarantine"]["reason"]
    # the faults stop; at the retry time the next cycle is the probe, and its success ends quarantine
    harness.scim_app.proxy.faults.clear()
    assert "in quarantine" in harness.cycle()["skipped"]
    harness.store.update_app_status("demo_wiki", retry_at=datetime.now(UTC) - timedelta(seconds=1))
    harness.store.clear_escrow("demo_wiki")  # the 400s are escrowed for hours; this test is about quarantine
    probe = harness.cycle()
    assert probe["report"]["status"] == "succeeded" and probe["report"]["quarantine"] == {
        "quarantined": False
    }
    assert [a["kind"] for a in harness.store.alerts("demo_wiki", "cycle-3")] == ["quarantine_left"]
    assert set(harness.scim_app.by_username()) == set(harness.expected_wiki_users().index)
