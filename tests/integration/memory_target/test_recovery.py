"""What goes wrong, against the in-memory target (tests/support/memory_target.py) through the real
steps: one object's failure stays that object's (escrow, a log row), an unusable app stops the
cycle and is quarantined, a create whose outcome is unknown is looked up, and a full reconcile
corrects changes made directly in the app -- as test_cycle.py, test_safety.py and
test_run_modes.py check them against SCIM.
"""

from __future__ import annotations

import pytest

from provisioning.connectors.errors import AppUnusable, Rejected, TransientError
from provisioning.cycle import steps
from provisioning.cycle.options import RunOptions
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import Action, LogStatus
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    assert_drift_notes,
    directory_groups,
    expected_members,
)
from tests.integration.memory_harness import GROUP, USER
from tests.support.memory_target import Call


def test_a_rejected_user_is_escrowed_and_logged_for_that_user_only(harness):
    expected = harness.expected_wiki_users()
    rejected = expected.index[2]
    harness.target.fail(Rejected("title is not allowed here", permanent=True), key=rejected)
    result = harness.cycle()
    assert result["apply"]["failed"] == 1 and result["apply"]["succeeded"] == len(expected) - 1
    assert result["report"]["status"] == "failed" and result["report"]["in_escrow"] == 1
    assert result["report"]["quarantine"] == {"quarantined": False}
    assert set(harness.users()) == set(expected.index) - {rejected}
    (failure,) = [r for r in harness.store.log("demo_wiki") if r["status"] == LogStatus.FAILURE]
    assert failure["source_display"] == rejected and failure["error_code"] == "Rejected"
    assert failure["error_message"] == "title is not allowed here"
    assert "escrow: failure 1, retried not before" in failure["detail"]

    # the same request would be refused again: the next cycle leaves it alone
    harness.target.reset()
    result = harness.cycle()
    assert result["diff"]["escrowed"] == 1 and harness.target.writes() == []

    # an operator's restart releases it, and the app now takes it
    harness.target.failures.clear()
    harness.options = RunOptions(restart="escrow", triggered_by="ops@contoso.example")
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert set(harness.users()) == set(expected.index) and harness.store.escrow("demo_wiki") == {}


def test_a_create_refused_as_already_existing_links_the_account_someone_made_meanwhile(harness):
    ctx = harness.context("cycle-1")
    steps.extract_assignments(ctx)
    steps.match(ctx)
    steps.diff(ctx)
    expected = harness.expected_wiki_users()
    upn = expected.index[3]
    racer = harness.target.seed(USER, {"userName": upn.upper()})  # the app keeps userNames unique
    steps.apply(ctx)
    assert steps.report(ctx)["status"] == "succeeded"
    assert harness.user_names()[upn] == 1
    account = harness.users()[upn]
    assert account["id"] == racer.id and account["title"] == expected.loc[upn, "jobTitle"]
    assert [c.error for c in harness.target.calls if c.verb == "create" and c.id is None] == ["AlreadyExists"]
    entry = next(r for r in harness.store.log("demo_wiki") if r["source_display"] == upn)
    assert entry["action"] == Action.UPDATE and entry["status"] == LogStatus.SUCCESS
    assert "already existed" in entry["detail"]
    assert harness.store.links("demo_wiki")[expected.loc[upn, "id"]].target_id == racer.id


def test_a_transient_create_failure_is_looked_up_and_retried_once(harness):
    flaky = harness.expected_wiki_users().index[4]
    harness.target.fail(TransientError("connection reset"), key=flaky, verbs=("create",), times=1)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    attempts = [c for c in harness.target.calls if c.arguments.get("attributes", {}).get("userName") == flaky]
    assert [c.error for c in attempts] == ["TransientError", None]
    names = harness.user_names()
    assert set(names) == set(harness.expected_wiki_users().index) and max(names.values()) == 1


class GarbledAnswer(AppUnusable):
    """An answer that breaks the protocol, after the app carried the request out."""

    may_have_acted = True


@pytest.mark.parametrize(
    "lost",
    [TransientError("read timed out"), GarbledAnswer("the app answered with invalid JSON")],
    ids=["timeout", "garbled"],
)
def test_an_account_made_by_a_create_whose_answer_was_lost_is_deprovisioned_after_its_owner_left(
    harness, lost
):
    expected = harness.expected_wiki_users()
    leaver = expected.index[3]
    harness.target.fail(lost, key=leaver, verbs=("create",), times=1, after_acting=True)
    if not lost.stops_cycle:  # after a timeout the create is looked up at once: that fails too
        harness.target.fail(TransientError("search timed out"), verbs=("find",), times=1)
    first = harness.cycle_tolerant()
    account = harness.users()[leaver]["id"]  # made, but we could not learn it
    assert first["report"]["status"] == "failed" and expected.loc[leaver, "id"] not in harness.store.links(
        "demo_wiki"
    )
    (failure,) = [r for r in harness.store.log("demo_wiki", "cycle-1") if r["source_display"] == leaver]
    assert failure["status"] == LogStatus.FAILURE
    assert (
        failure["detail"]
        == "the app may have created this user: the next attempt looks for it before creating it again"
    )
    assert harness.store.escrow("demo_wiki") == {}  # not backed off: the next cycle verifies it

    # before the next cycle the person leaves: the account must not be forgotten in the app
    harness.sql("update users set accountEnabled=0 where userPrincipalName=:upn", upn=leaver)
    harness.options = RunOptions(restart="quarantine")  # the garbled answer quarantined the app
    harness.target.reset()
    second = harness.cycle()
    assert second["diff"]["adopted_in_flight"] == 1
    creates = [c for c in harness.target.writes() if c.verb == "create"]
    assert [c for c in creates if c.arguments["attributes"]["userName"] == leaver] == []
    assert harness.store.links("demo_wiki")[expected.loc[leaver, "id"]].target_id == account

    harness.options = RunOptions()
    harness.target.reset()
    harness.cycle()
    assert harness.target.writes() == [Call("set_active", USER, account, {"active": False})]
    assert harness.users()[leaver]["active"] is False and max(harness.user_names().values()) == 1


def test_an_account_deleted_in_the_app_is_disabled_without_a_failure(harness):
    harness.cycle()
    leaver = harness.expected_wiki_users().index[0]
    account = harness.users()[leaver]["id"]
    harness.target.remove(USER, account)
    harness.sql("update users set accountEnabled=0 where userPrincipalName=:upn", upn=leaver)
    harness.target.reset()
    result = harness.cycle()
    assert harness.target.calls == [Call("set_active", USER, account, {"active": False}, "NotFound")]
    assert result["report"]["status"] == "succeeded"
    (entry,) = harness.store.log("demo_wiki", "cycle-2")
    assert entry["status"] == LogStatus.SUCCESS and entry["detail"] == "the user no longer exists in the app"


def test_an_unusable_app_stops_the_cycle_quarantines_it_and_a_restart_recovers(harness):
    harness.target.fail(AppUnusable("the app refused our credentials"))
    first = harness.cycle_tolerant()
    assert isinstance(first["match"], AppUnusable) and "apply" not in first
    report = first["report"]
    assert report["status"] == "failed" and report["error"] == "match: the app refused our credentials"
    assert report["quarantine"]["quarantined"] is True
    assert harness.store.app_status("demo_wiki")["quarantine_reason"] == report["error"]
    assert harness.target.writes() == [] and harness.store.links("demo_wiki") == {}

    harness.target.reset()
    assert "in quarantine" in harness.cycle()["skipped"] and harness.target.calls == []

    harness.target.failures.clear()
    harness.options = RunOptions(restart="quarantine", triggered_by="ops@contoso.example")
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert set(harness.users()) == set(harness.expected_wiki_users().index)


def test_an_app_that_becomes_unusable_mid_apply_stops_the_apply_early(harness):
    harness.target.fail(AppUnusable("the app answered something that is not its protocol"), verbs=("create",))
    result = harness.cycle()
    expected = harness.expected_wiki_users()
    assert "not its protocol" in result["apply"]["stopped"] and result["apply"]["not_attempted"] > 0
    assert result["apply"]["succeeded"] == 0
    report = result["report"]
    # refused requests are not the users' fault: every create waits for the next run, none in escrow
    assert report["status"] == "failed" and report["not_applied"] == len(expected)
    assert report["in_escrow"] == 0
    assert report["quarantine"]["quarantined"] is True
    assert len(harness.target.writes()) < len(expected)  # stopped, not hammered

    harness.target.failures.clear()
    harness.options = RunOptions(restart="quarantine")
    assert harness.cycle()["report"]["status"] == "succeeded"
    names = harness.user_names()
    assert set(names) == set(expected.index) and max(names.values()) == 1


def test_a_full_reconcile_corrects_changes_made_directly_in_the_app(with_groups):
    harness = with_groups
    harness.cycle()
    accounts = harness.users()
    edited, disabled, deleted = sorted(accounts)[:3]
    title = accounts[edited]["title"]
    harness.target.edit(USER, accounts[edited]["id"], {"title": "X"})
    harness.target.edit(USER, accounts[disabled]["id"], active=False)
    harness.target.remove(USER, accounts[deleted]["id"])
    stranger = harness.target.seed(USER, {"userName": "stranger@x.example"})
    product = harness.target.by(GROUP, "displayName")["Department Product"]
    harness.target.edit(GROUP, product.id, members={*product.members, stranger.id})

    # an ordinary cycle trusts its baseline: the drift stays
    harness.target.reset()
    harness.cycle()
    assert harness.target.calls == []

    harness.options = RunOptions(full_reconcile=True)
    harness.target.reset()
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    writes = harness.target.writes()
    assert (
        Call(
            "update",
            USER,
            accounts[edited]["id"],
            {"change": AttributeUpdate(set={"title": title}, previous={"title": "X"})},
        )
        in writes
    )
    assert Call("update", USER, accounts[disabled]["id"], {"change": AttributeUpdate(active=True)}) in writes
    assert Call("remove_members", GROUP, product.id, {"members": [stranger.id]}) in writes
    after = harness.users()
    assert after[edited]["title"] == title and after[disabled]["active"] is True
    assert after[deleted]["id"] != accounts[deleted]["id"]  # created again
    assert set(after) == set(harness.expected_wiki_users().index) | {"stranger@x.example"}
    assert "stranger@x.example" not in harness.member_names("Department Product")
    for group_id, name in directory_groups(harness).items():
        assert harness.member_names(name) == expected_members(harness, group_id), name
    reconciled = result["match"]["reconcile"]
    assert reconciled["drifted"] == 2 and reconciled["missing"] == 1 and reconciled["not_ours"] == 1
    assert_drift_notes(harness.store, "cycle-3", edited, disabled, deleted)

    # and then the app is in step: a second reconcile reads, and writes nothing
    harness.target.reset()
    harness.cycle()
    assert harness.target.writes() == [] and harness.target.calls


def test_a_group_made_by_a_create_whose_answer_was_lost_is_deleted_after_it_left_the_scope(harness):
    """As with a leaver's account: the group the app made is found by the next cycle although the
    directory no longer wants it, and then removed as the config says, never forgotten unlinked."""
    harness.cycle()  # the users first, so that the failure below meets a group create
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS, "on_leave_scope": "delete"})
    lost = GarbledAnswer("the app answered with invalid JSON")
    harness.target.fail(lost, verbs=("create",), times=1, after_acting=True)
    harness.cycle_tolerant()
    (failure,) = [
        r
        for r in harness.store.log("demo_wiki", "cycle-2")
        if r["object_type"] == GROUP and r["status"] == LogStatus.FAILURE
    ]
    group_id, name = failure["source_id"], failure["source_display"]
    made = harness.target.by(GROUP, "displayName")[name].id  # made, but we could not learn it
    assert group_id not in harness.store.links("demo_wiki", GROUP)

    # before the next cycle the group leaves the scope
    harness.sql("update groups set displayName = 'Archived ' || displayName where id = :g", g=group_id)
    harness.options = RunOptions(restart="quarantine")  # the garbled answer quarantined the app
    assert harness.cycle()["diff"]["adopted_in_flight"] == 1
    assert harness.store.links("demo_wiki", GROUP)[group_id].target_id == made

    harness.options = RunOptions()
    harness.target.reset()
    harness.cycle()
    assert Call("delete", GROUP, made, {}) in harness.target.writes()
    wanted = directory_groups(harness)
    assert sorted(o.attributes["displayName"] for o in harness.target.objects(GROUP).values()) == sorted(
        wanted.values()
    )
    for source_id, group_name in wanted.items():
        assert harness.member_names(group_name) == expected_members(harness, source_id), group_name
