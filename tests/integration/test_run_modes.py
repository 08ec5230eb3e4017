"""The trigger params' modes end to end against a real SCIM server: dry run, provision on
demand, full reconcile (drift made directly in the app) and the restart modes."""

import pytest

from provisioning.connectors.scim.client import ScimClient
from provisioning.cycle.options import RunOptions
from provisioning.cycle.selection import SelectionError
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    Harness,
    assert_drift_notes,
    directory_groups,
    expected_members,
)


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    return Harness(directory_db, scim_app, tmp_path / "state.db")


def app_client(harness: Harness) -> ScimClient:
    """Someone editing the app directly, behind our back (not through the recording proxy)."""
    return ScimClient(harness.scim_app.server.url, harness.scim_app.token)


def test_a_dry_run_writes_nothing_and_logs_what_a_run_would_do(harness):
    expected = set(harness.expected_wiki_users().index)
    existing = sorted(expected)[0]  # an account the app already has: a dry run links it, in memory
    with app_client(harness) as client:
        client.create_resource(
            "user", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": existing}
        )
    harness.scim_app.proxy.reset()
    harness.options = RunOptions(dry_run=True)

    result = harness.cycle()

    assert harness.scim_app.proxy.writes() == []
    assert set(harness.scim_app.by_username()) == {existing}
    assert harness.store.count_links("demo_wiki") == 0
    report = result["report"]
    assert report["status"] == "dry_run"
    # the app's account has no `active`: linked, it is enabled (sent active: true)
    assert report["would"]["user"] == {"create": len(expected) - 1, "enable": 1}
    rows = [r for r in harness.store.log("demo_wiki", "cycle-1") if r["status"] == "dry_run"]
    assert {r["source_display"] for r in rows} == expected
    (enable,) = [r for r in rows if r["action"] == "enable"]
    assert enable["source_display"] == existing and enable["target_id"]
    assert harness.store.cycle("demo_wiki", "cycle-1")["status"] == "dry_run"

    # the real run then does exactly what the dry run said
    harness.options = RunOptions()
    real = harness.cycle()
    assert real["report"]["actions"]["user"] == {
        "create": {"succeeded": len(expected) - 1},
        "enable": {"succeeded": 1},
    }
    assert set(harness.scim_app.by_username()) == expected


def test_a_dry_run_shows_held_deletions_without_staging_or_alerting(harness):
    harness.cycle()
    harness.sql("delete from app_assignments where app = 'demo_wiki' and principal_type = 'group'")
    harness.scim_app.proxy.reset()
    harness.options = RunOptions(dry_run=True)
    result = harness.cycle()
    assert result["report"]["would_be_staged"] == result["report"]["would"]["user"]["disable"] > 10
    assert harness.scim_app.proxy.writes() == []
    assert harness.store.alerts("demo_wiki") == []
    assert all(u["active"] for u in harness.scim_app.users())


def test_on_demand_provisions_only_the_named_user_and_records_each_step(harness):
    expected = harness.expected_wiki_users()
    first, second = sorted(expected.index)[:2]
    harness.cycle()
    # both leave scope; on demand for `first` only: `second` must not be touched
    harness.sql("update users set accountEnabled = 0 where userPrincipalName in (:a, :b)", a=first, b=second)
    harness.scim_app.proxy.reset()
    harness.options = RunOptions(users=(first.upper(),), triggered_by="ops")

    result = harness.cycle()

    writes = harness.scim_app.proxy.writes()
    target = harness.scim_app.by_username()[first]["id"]
    assert [(w.method, w.path) for w in writes] == [("PATCH", f"/Users/{target}")]
    accounts = harness.scim_app.by_username()
    assert accounts[first]["active"] is False and accounts[second]["active"] is True
    assert result["extract_assignments"]["on_demand"] == {"user": [first], "group": []}
    (trace,) = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["action"] == "on_demand"]
    assert trace["source_display"] == first and trace["status"] == "info"
    assert "Scoping" in trace["detail"] or "scope" in trace["detail"].lower()
    assert "disable" in trace["detail"]


def test_on_demand_creates_one_new_user_and_a_wrong_name_fails_with_the_name(harness):
    newcomer = sorted(harness.expected_wiki_users().index)[5]
    user_id = harness.rows("select id from users where userPrincipalName = :u", u=newcomer)[0][0]
    harness.options = RunOptions(users=(user_id,))
    result = harness.cycle()
    assert set(harness.scim_app.by_username()) == {newcomer}
    assert result["report"]["status"] == "succeeded"

    harness.options = RunOptions(users=("nobody@contoso.example", newcomer))
    with pytest.raises(SelectionError, match=r"'nobody@contoso\.example'"):
        harness.cycle()
    assert set(harness.scim_app.by_username()) == {newcomer}


def test_on_demand_for_a_group_provisions_its_members_changes_only(harness):
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    harness.cycle()
    engineering = harness.rows("select id from groups where displayName = 'Department Engineering'")[0][0]
    leaver = sorted(expected_members(harness, engineering))[0]
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :u", u=leaver)
    harness.scim_app.proxy.reset()
    harness.options = RunOptions(groups=("department engineering",))
    harness.cycle()
    writes = harness.scim_app.proxy.writes()
    group_id = harness.scim_app.groups()["Department Engineering"]["id"]
    assert {(w.method, w.path) for w in writes} == {("PATCH", f"/Groups/{group_id}")}
    assert leaver not in harness.scim_app.member_names(harness.scim_app.groups()["Department Engineering"])
    assert harness.scim_app.by_username()[leaver]["active"] is True  # users were not in the selection


def test_full_reconcile_corrects_changes_made_directly_in_the_app(harness):
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    harness.cycle()
    accounts = harness.scim_app.by_username()
    edited, disabled, deleted = sorted(accounts)[:3]
    title = accounts[edited].get("title")
    outsider = sorted(set(accounts) - set(harness.expected_wiki_users().index) or {None})
    group = harness.scim_app.groups()["Department Product"]
    with app_client(harness) as client:
        client.patch_resource(
            "user", accounts[edited]["id"], {"Operations": [{"op": "replace", "path": "title", "value": "X"}]}
        )
        client.patch_resource(
            "user",
            accounts[disabled]["id"],
            {"Operations": [{"op": "replace", "path": "active", "value": False}]},
        )
        client.delete_resource("user", accounts[deleted]["id"])
        stranger = client.create_resource(
            "user",
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "stranger@x.example"},
        )
        client.patch_resource(
            "group",
            group["id"],
            {"Operations": [{"op": "add", "path": "members", "value": [{"value": stranger["id"]}]}]},
        )
    assert outsider == [None]  # every account in the app is one of ours, before the stranger

    # an ordinary cycle trusts its baseline: the drift stays
    harness.scim_app.proxy.reset()
    harness.cycle()
    assert harness.scim_app.proxy.writes() == []

    harness.options = RunOptions(full_reconcile=True)
    result = harness.cycle()
    accounts = harness.scim_app.by_username()
    assert accounts[edited].get("title") == title
    assert accounts[disabled]["active"] is True
    assert deleted in accounts  # created again
    assert set(accounts) == set(harness.expected_wiki_users().index) | {"stranger@x.example"}
    group = harness.scim_app.groups()["Department Product"]
    assert "stranger@x.example" not in harness.scim_app.member_names(group)
    reconciled = result["match"]["reconcile"]
    assert reconciled["drifted"] == 2 and reconciled["missing"] == 1 and reconciled["not_ours"] == 1
    # the stranger's group, and the groups the app dropped the deleted account from
    assert result["match"]["groups"]["reconcile"]["member_drift"] >= 2
    for group_id, name in directory_groups(harness).items():
        members = harness.scim_app.member_names(harness.scim_app.groups()[name])
        assert members == expected_members(harness, group_id), name
    assert_drift_notes(harness.store, "cycle-3", edited, disabled, deleted)

    # and then the app is in step: a second reconcile finds nothing to write
    harness.scim_app.proxy.reset()
    harness.cycle()
    assert harness.scim_app.proxy.writes() == []


def test_full_reset_rematches_links_that_point_at_the_wrong_accounts(harness):
    harness.cycle()
    links = harness.store.links("demo_wiki")
    a, b = sorted(links)[:2]
    # a corrupted state store: two links swapped
    harness.store.delete_links("demo_wiki", "user", [a, b])
    harness.store.upsert_links(
        "demo_wiki",
        [
            {
                "source_id": a,
                "target_id": links[b].target_id,
                "attributes": links[a].attributes,
                "active": True,
            },
            {
                "source_id": b,
                "target_id": links[a].target_id,
                "attributes": links[b].attributes,
                "active": True,
            },
        ],
    )
    before = {u["userName"]: u for u in harness.scim_app.users()}
    harness.scim_app.proxy.reset()
    harness.options = RunOptions(restart="full_reset", triggered_by="ops")
    result = harness.cycle()
    assert result["match"]["reconcile"]["rematched"] == 2
    assert harness.scim_app.proxy.writes() == []  # nothing was overwritten with the other's data
    assert {u["userName"]: u for u in harness.scim_app.users()} == before
    fixed = harness.store.links("demo_wiki")
    assert (fixed[a].target_id, fixed[b].target_id) == (links[a].target_id, links[b].target_id)
    (alert,) = harness.store.alerts("demo_wiki", "cycle-2")
    assert alert["message"].startswith("restarted by ops (restart=full_reset): quarantine cleared")
    assert "every object matched again" in alert["message"]
