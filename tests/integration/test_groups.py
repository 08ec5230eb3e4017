"""Groups end to end against a real SCIM server: flattened members, membership changes, renames,
members outside the app's user scope, groups leaving scope, a create the app carries out late."""

from collections import Counter

import pytest

from provisioning.cycle.options import RunOptions
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    MEMBERS_SQL,
    Harness,
    directory_groups,
    expected_members,
)
from tests.support.fault_proxy import Fault


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    return harness


def test_groups_are_created_once_with_nested_members_flattened(harness):
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    groups = harness.scim_app.groups()
    wanted = directory_groups(harness)
    assert set(groups) == set(wanted.values())
    for group_id, name in wanted.items():
        assert groups[name]["externalId"] == group_id
        assert harness.scim_app.member_names(groups[name]) == expected_members(harness, group_id), name
    # Division Tech holds no users directly: its members come from its department groups
    assert len(groups["Division Tech"]["members"]) > 0
    assert harness.scim_app.member_names(groups["Division Tech"]) == set(
        harness.upns(
            "select userPrincipalName from users where department in ('Engineering', 'Product', 'Design') "
            "and accountEnabled = 1"
        )
    ) & set(harness.expected_wiki_users().index)
    # members outside the wiki's user scope are not sent, and the log says so
    sales = harness.upns(MEMBERS_SQL, g="g-dept-sales")
    assert 0 < len(groups["Department Sales"].get("members", [])) < len(sales)  # only directly assigned ones
    notes = {r["source_display"]: r for r in harness.store.log("demo_wiki") if r["action"] == "note"}
    assert notes["Department Sales"]["error_code"] == "MembersNotProvisioned"
    assert "have no account in the app" in notes["Department Sales"]["error_message"]
    # users are created before the memberships that reference them: every add succeeded
    log = harness.store.log("demo_wiki")
    assert Counter((r["object_type"], r["action"], r["status"]) for r in log if r["action"] != "note") == {
        ("user", "create", "success"): len(harness.expected_wiki_users()),
        ("group", "create", "success"): len(wanted),
        ("membership", "add_members", "success"): sum(bool(expected_members(harness, g)) for g in wanted),
    }

    harness.scim_app.proxy.reset()
    second = harness.cycle()
    assert harness.scim_app.proxy.writes() == [] and second["diff"]["groups"]["unchanged"] == len(wanted)


def test_members_follow_the_directory_and_renames_keep_the_group(harness):
    harness.cycle()
    before = harness.scim_app.groups()
    # a Sales person joins Engineering too: now in the wiki's scope, so created, and added to both
    # departments -- including Sales, where they were left out while they had no account
    sales = harness.rows(
        "select id, userPrincipalName from users where department = 'Sales' and accountEnabled = 1"
    )[0]
    harness.sql("insert into group_members values ('g-dept-engineering', :u, 'user')", u=sales[0])
    # an engineer leaves the department: out of scope, disabled, and removed from the groups
    leaver = sorted(
        expected_members(harness, "g-dept-engineering")
        - harness.upns(
            "select userPrincipalName from users u join app_assignments a on a.principal_id = u.id"
        )
    )[0]
    harness.sql(
        "delete from group_members where group_id = 'g-dept-engineering' and member_id = "
        "(select id from users where userPrincipalName = :upn)",
        upn=leaver,
    )
    harness.sql("update groups set displayName = 'Department Platform' where id = 'g-dept-engineering'")
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    groups = harness.scim_app.groups()
    assert "Department Engineering" not in groups
    assert (
        groups["Department Platform"]["id"] == before["Department Engineering"]["id"]
    )  # renamed, not recreated
    platform = harness.scim_app.member_names(groups["Department Platform"])
    assert sales[1] in platform and leaver not in platform
    assert sales[1] in harness.scim_app.member_names(groups["Department Sales"])
    assert leaver not in harness.scim_app.member_names(groups["Division Tech"])
    assert harness.scim_app.by_username()[leaver]["active"] is False
    for group_id, name in directory_groups(harness).items():
        assert harness.scim_app.member_names(groups[name]) == expected_members(harness, group_id), name


def test_a_group_leaving_scope_is_kept_unless_the_config_says_delete(harness):
    harness.cycle()
    harness.sql("update groups set displayName = 'Archived Design' where id = 'g-dept-design'")
    harness.cycle()
    groups = harness.scim_app.groups()
    assert "Department Design" in groups  # left alone: neither renamed nor emptied
    assert groups["Department Design"]["members"]

    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS, "on_leave_scope": "delete"})
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    assert "Department Design" not in harness.scim_app.groups()
    (deleted,) = [r for r in harness.store.log("demo_wiki", "cycle-3") if r["action"] == "delete"]
    assert deleted["object_type"] == "group" and deleted["status"] == "success"
    assert "g-dept-design" not in harness.store.links("demo_wiki", "group")


@pytest.mark.parametrize("removal", ["rfc", "replace"])
def test_member_removal_styles_converge_to_the_directory(harness, removal):
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS, "members": {"removal": removal, "batch_size": 7}})
    harness.cycle()
    harness.sql("delete from group_members where group_id = 'g-dept-product' and rowid % 2 = 0")
    harness.sql(
        "update app_assignments set principal_id = 'g-dept-engineering' "
        "where principal_id = 'g-division-tech'"
    )
    assert harness.cycle()["report"]["status"] == "staged"  # a mass change: held first
    harness.options = RunOptions(allow_deletions=True)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    groups = harness.scim_app.groups()
    for group_id, name in directory_groups(harness).items():
        assert harness.scim_app.member_names(groups[name]) == expected_members(harness, group_id), name
    requests = result["diff"]["memberships"]["requests"]
    if removal == "replace":
        assert requests <= len(groups)  # one request per changed group
    else:
        assert requests > len([g for g in groups.values() if g.get("members")])  # batches of 7


def test_a_group_create_the_app_carries_out_after_we_gave_up_is_not_sent_twice(
    directory_db, scim_app, tmp_path
):
    """A create that timed out may still be under way in the app, so a lookup right away cannot
    rule it out; an app that keeps group names unique would refuse a second create, this one (like
    many) does not. The next cycle looks for the group instead, even after a rename."""
    harness = Harness(directory_db, scim_app, tmp_path / "state.db", timeout=2.0)
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    proxy = scim_app.proxy
    # one group create reaches the app 4 s late: by then the client has timed out (2 s) and looked
    proxy.inject(Fault(504, methods=("POST",), path="/Groups", after_upstream=True, upstream_delay=4.0))
    harness.cycle()
    proxy.wait_idle()  # the late create has landed
    wanted = directory_groups(harness)
    in_app = harness.scim_app.groups_list()
    made = {g["externalId"]: g["id"] for g in in_app}
    assert len(made) == len(in_app) == len(wanted)  # no group twice
    failed = [
        r
        for r in harness.store.log("demo_wiki", "cycle-1")
        if r["object_type"] == "group" and r["status"] == "failure"
    ]
    assert failed and all(
        r["error_code"] == "timeout" and "may have created this group" in r["detail"] for r in failed
    )

    # renamed in the directory before the next cycle, which finds the group; the one after renames it
    for r in failed:
        harness.sql(
            "update groups set displayName = :n where id = :g", n=f"{r['source_display']} 2", g=r["source_id"]
        )
    harness.cycle()
    harness.cycle()
    groups = harness.scim_app.groups()
    assert set(groups) == set(directory_groups(harness).values())
    for r in failed:  # found and renamed, not made again
        assert groups[f"{r['source_display']} 2"]["id"] == made[r["source_id"]]
    for group_id, name in directory_groups(harness).items():
        assert harness.scim_app.member_names(groups[name]) == expected_members(harness, group_id), name
    creates = [r for r in proxy.requests if r.method == "POST" and r.path.startswith("/Groups")]
    assert len(creates) == len(wanted)
