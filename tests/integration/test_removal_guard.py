"""The accidental-deletion guard over every removal, against a real SCIM server: member removals
counted on their own, held users and skipped users keeping their memberships, slow leaks caught
by the rolling window, collapses against the healthy baseline, approvals bound to a held set."""

from datetime import UTC, datetime

import pytest

from provisioning.cycle.options import InvalidRunOptions, RunOptions
from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS, Harness

ENGINEERING = "select id from users where department = 'Engineering' and accountEnabled = 1"


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    return harness


def memberships(harness: Harness) -> dict[str, set[str]]:
    """Group name -> member userNames, as the app holds them."""
    return {name: harness.scim_app.member_names(g) for name, g in harness.scim_app.groups().items()}


def active(harness: Harness) -> set[str]:
    return {u["userName"] for u in harness.scim_app.users() if u.get("active", True)}


def disable(harness: Harness, ids: list[str]) -> None:
    for user_id in ids:
        harness.sql("update users set accountEnabled = 0 where id = :id", id=user_id)


def test_a_view_without_memberships_removes_nobody_from_any_group(harness):
    harness.cycle()
    before, accounts = memberships(harness), active(harness)
    assert sum(len(m) for m in before.values()) > 5
    harness.sql("delete from group_members")  # a broken view: every membership row gone
    held = harness.cycle()
    assert held["report"]["status"] == "staged"
    assert memberships(harness) == before and active(harness) == accounts
    assert held["diff"]["held"]["membership"] > 0  # directly assigned users' memberships
    assert "the directory's group memberships fell to 0 from" in held["diff"]["held_reason"]
    staged = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["status"] == "staged"]
    assert {r["object_type"] for r in staged} == {"user", "membership"}
    (alert,) = [a for a in harness.store.alerts("demo_wiki", "cycle-2") if a["kind"] == "deletions_staged"]
    assert "membership removal(s) held" in alert["message"] and "approve=cycle-2" in alert["message"]


def test_users_whose_disable_is_held_keep_their_memberships(harness):
    harness.cycle()
    before, accounts = memberships(harness), active(harness)
    harness.sql("update users set accountEnabled = 0")  # every account flipped
    held = harness.cycle()
    assert held["report"]["status"] == "staged" and held["diff"]["held"]["user"] == len(accounts)
    assert active(harness) == accounts and memberships(harness) == before


def test_a_mass_of_unreadable_enabled_flags_is_held_not_applied(harness):
    """Unknown accountEnabled values fail closed one by one, and a mass of them trips the guard."""
    harness.cycle()
    before, accounts = memberships(harness), active(harness)
    harness.sql("update users set accountEnabled = 'pending-review'")  # an export gone wrong
    held = harness.cycle()
    assert held["report"]["status"] == "staged"
    assert active(harness) == accounts and memberships(harness) == before
    staged = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["status"] == "staged"]
    assert len(staged) >= len(accounts)
    assert all(
        "accountEnabled is 'pending-review'" in r["detail"] for r in staged if r["object_type"] == "user"
    )


def test_a_skipped_user_keeps_their_memberships(harness):
    harness.configure(users={**harness.raw("users"), "actions": ["create", "disable"]})
    harness.cycle()
    before = memberships(harness)
    user_id, upn = harness.rows(
        "select id, userPrincipalName from users where department = 'Engineering' and accountEnabled = 1"
    )[0]
    harness.sql("update users set displayName = 'Renamed Person' where id = :id", id=user_id)
    result = harness.cycle()
    skips = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["error_code"] == "ActionNotAllowed"]
    assert [r["source_id"] for r in skips] == [user_id]
    assert result["report"]["status"] == "succeeded"
    assert memberships(harness) == before and upn in before["Department Engineering"]


def test_a_slow_leak_is_held_by_the_rolling_window(harness):
    harness.configure(groups=None)
    harness.cycle()
    start = len(active(harness))
    statuses = []
    for _ in range(6):  # a view losing a quarter of the wiki's remaining users every cycle
        ids = [
            r[0]
            for r in harness.rows(ENGINEERING.replace("= 'Engineering'", "in ('Engineering', 'Product')"))
        ]
        disable(harness, ids[: max(1, len(ids) // 4)])
        statuses.append(harness.cycle()["report"]["status"])
    # two cycles stay within 30% over the window; from the third, the window holds every cycle
    assert statuses == ["succeeded"] * 2 + ["staged"] * 4
    assert len(active(harness)) >= start * 0.7
    (alert,) = [a for a in harness.store.alerts("demo_wiki", "cycle-4") if a["kind"] == "deletions_staged"]
    assert "applied in the last 24 h" in alert["message"]


def test_an_approval_applies_the_set_it_names_and_nothing_held_later(harness):
    harness.configure(groups=None, accidental_deletions={"max_count": 5, "min_count": 1, "max_percent": 100})
    harness.cycle()
    engineers = [r[0] for r in harness.rows(ENGINEERING)][:8]
    product = [r[0] for r in harness.rows(ENGINEERING.replace("Engineering", "Product"))][:8]
    disable(harness, engineers)
    assert harness.cycle()["report"]["status"] == "staged"  # cycle-2 holds the engineers
    disable(harness, product)
    assert harness.cycle()["report"]["status"] == "staged"  # cycle-3 holds both sets

    harness.options = RunOptions(approve="cycle-2", triggered_by="alice@contoso.example")
    approved = harness.cycle()
    log = harness.store.log("demo_wiki", "cycle-4")
    done = {r["source_id"] for r in log if r["action"] == "disable" and r["status"] == "success"}
    assert done == set(engineers)
    assert all(
        "approved by alice@contoso.example (held by cycle cycle-2)" in r["detail"]
        for r in log
        if r["status"] == "success"
    )
    # the product set was held after what alice saw: evaluated afresh, held again
    assert approved["report"]["status"] == "staged" and approved["diff"]["held"] == {"user": len(product)}
    alerts = {a["kind"]: a["message"] for a in harness.store.alerts("demo_wiki", "cycle-4")}
    assert (
        "approved by alice@contoso.example: 8 account removal(s) held by cycle cycle-2"
        in alerts["deletions_approved"]
    )

    # approved removals do not count in the window: one more leaver goes through
    harness.options = RunOptions()
    disable(harness, [r[0] for r in harness.rows(ENGINEERING)][:1])
    harness.options = RunOptions(allow_deletions=True, triggered_by="bob")
    assert harness.cycle()["report"]["status"] == "succeeded"  # the latest hold (product) and the one leaver


def test_an_approval_with_nothing_held_says_so_and_an_unknown_hold_is_refused(harness):
    harness.configure(groups=None)
    harness.options = RunOptions(allow_deletions=True, triggered_by="carol")
    result = harness.cycle()
    assert (
        result["diff"]["approval"]
        == "approval by carol: nothing is held for approval, so nothing was approved"
    )
    harness.options = RunOptions(approve="cycle-99", triggered_by="carol")
    with pytest.raises(InvalidRunOptions, match="no cycle 'cycle-99' of demo_wiki held removals"):
        harness.cycle()


def test_dry_runs_and_on_demand_runs_never_move_the_collapse_baseline(harness):
    harness.configure(groups=None)
    harness.cycle()
    baseline = harness.store.holds.health_baseline("demo_wiki", _long_ago())
    harness.sql("delete from users where rowid % 3 != 0")
    harness.options = RunOptions(dry_run=True)
    assert harness.cycle()["report"]["would_be_staged"] > 0
    upn = harness.rows("select userPrincipalName from users where department = 'Engineering'")[0][0]
    harness.options = RunOptions(users=(upn,))
    harness.cycle()
    assert harness.store.holds.health_baseline("demo_wiki", _long_ago()) == baseline
    harness.options = RunOptions()
    assert harness.cycle()["report"]["status"] == "staged"


def _long_ago():

    return datetime(2000, 1, 1, tzinfo=UTC)
