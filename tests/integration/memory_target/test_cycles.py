"""Whole cycles of the real steps against a second target that is not SCIM: an app held in memory
(tests/support/memory_target.py), over a real SQLite directory and state store. The outcomes are
those the SCIM tests check (test_cycle.py, test_groups.py); here they hold for a target that
implements only the neutral connector verbs. Failures and recovery: test_recovery.py.

The MemoryTarget stands in for "some other app API": no such app can run here, and writing one
is the point (the issue's proof that the connector interface needs nothing SCIM).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import Action, LogStatus, ObjectType
from tests.integration.cycle_helpers import directory_groups, expected_members
from tests.integration.memory_harness import EMAIL, ENTERPRISE, GROUP, USER, MemoryHarness, verbs
from tests.support import memory_target
from tests.support.memory_target import Call


def test_the_memory_target_imports_nothing_scim():
    tree = ast.parse(Path(memory_target.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported and not [m for m in imported if m and "scim" in m.lower()]


def test_first_cycle_creates_exactly_the_in_scope_users_with_mapped_attributes(harness):
    result = harness.cycle()
    expected = harness.expected_wiki_users()
    accounts = harness.users()
    assert set(accounts) == set(expected.index)
    assert harness.target.closed == 1  # released when the cycle's context ended
    assert result["report"]["status"] == "succeeded"
    assert result["diff"]["counts"]["create"] == len(expected)
    assert verbs(harness.target.writes()) == {("create", USER): len(expected)}
    for upn, account in accounts.items():
        row = expected.loc[upn]
        assert account["active"] is True and account["id"].startswith("u-")
        assert account["externalId"] == row["id"]
        assert (account["name.givenName"], account["name.familyName"]) == (row["givenName"], row["surname"])
        assert account[EMAIL] == row["mail"]
        assert account["title"] == row["jobTitle"]
        assert account[f"{ENTERPRISE}:department"] == row["department"]
        assert account[f"{ENTERPRISE}:employeeNumber"] == row["employeeId"]
        assert account["preferredLanguage"] == "en"
    log = harness.store.log("demo_wiki")
    assert Counter((r["action"], r["status"]) for r in log) == {
        (Action.CREATE, LogStatus.SUCCESS): len(expected)
    }
    entry = log[0]
    assert entry["target_id"] == accounts[entry["source_display"]]["id"]
    assert {"path": "userName", "old": None, "new": entry["source_display"]} in entry["modified_properties"]
    links = harness.store.links("demo_wiki")
    assert {link.target_id for link in links.values()} == {a["id"] for a in accounts.values()}
    assert harness.store.endpoints("demo_wiki") == {"memory://toy": len(expected)}  # links know where


def test_groups_are_created_with_their_members_after_the_users(with_groups):
    harness = with_groups
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    wanted = directory_groups(harness)
    groups = harness.target.by(GROUP, "displayName")
    assert set(groups) == set(wanted.values())
    for group_id, name in wanted.items():
        assert groups[name].attributes["externalId"] == group_id and groups[name].active is None
        assert harness.member_names(name) == expected_members(harness, group_id), name
    assert harness.member_names("Division Tech")  # nested department groups, flattened
    writes = harness.target.writes()
    phases = [c.verb if c.object_type == USER else f"group {c.verb}" for c in writes]
    assert phases == sorted(phases, key=["create", "group create", "group add_members"].index)
    log = harness.store.log("demo_wiki")
    assert Counter((r["object_type"], r["action"], r["status"]) for r in log if r["action"] != "note") == {
        (USER, Action.CREATE, LogStatus.SUCCESS): len(harness.expected_wiki_users()),
        (GROUP, Action.CREATE, LogStatus.SUCCESS): len(wanted),
        (ObjectType.MEMBERSHIP, Action.ADD_MEMBERS, LogStatus.SUCCESS): sum(
            bool(expected_members(harness, g)) for g in wanted
        ),
    }

    harness.target.reset()
    second = harness.cycle()
    assert harness.target.calls == [] and second["diff"]["groups"]["unchanged"] == len(wanted)


def test_a_cycle_without_directory_changes_makes_zero_write_calls(harness):
    harness.cycle()
    harness.target.reset()
    result = harness.cycle()
    assert harness.target.calls == []  # links exist: not even a read
    assert result["diff"]["counts"]["unchanged"] == len(harness.expected_wiki_users())
    assert result["report"]["status"] == "succeeded"
    assert harness.store.log("demo_wiki", "cycle-2") == []


def test_a_title_change_updates_only_that_path_and_a_disabled_user_is_disabled(harness):
    harness.cycle()
    expected = harness.expected_wiki_users()
    changed, leaver = expected.index[0], expected.index[1]
    before = harness.users()
    harness.sql("update users set jobTitle='Principal Engineer' where userPrincipalName=:upn", upn=changed)
    harness.sql("update users set accountEnabled=0 where userPrincipalName=:upn", upn=leaver)
    harness.target.reset()
    result = harness.cycle()

    change = AttributeUpdate(
        set={"title": "Principal Engineer"}, previous={"title": before[changed]["title"]}
    )
    assert sorted(harness.target.calls, key=lambda c: c.verb) == [
        Call("set_active", USER, before[leaver]["id"], {"active": False}),
        Call("update", USER, before[changed]["id"], {"change": change}),
    ]
    after = harness.users()
    assert after[changed] == {**before[changed], "title": "Principal Engineer"}
    assert after[leaver] == {**before[leaver], "active": False}
    assert result["diff"]["counts"]["update"] == 1 and result["diff"]["counts"]["disable"] == 1
    log = {r["source_display"]: r for r in harness.store.log("demo_wiki", "cycle-2")}
    assert set(log) == {changed, leaver}
    assert log[changed]["action"] == Action.UPDATE and log[changed]["status"] == LogStatus.SUCCESS
    assert log[changed]["modified_properties"] == [
        {"path": "title", "old": before[changed]["title"], "new": "Principal Engineer"}
    ]
    assert log[leaver]["action"] == Action.DISABLE and log[leaver]["detail"] == "disabled in the directory"

    # enabled again in the directory: one update re-enables the account, nothing else is sent
    harness.sql("update users set accountEnabled=1 where userPrincipalName=:upn", upn=leaver)
    harness.target.reset()
    harness.cycle()
    assert harness.target.calls == [
        Call("update", USER, before[leaver]["id"], {"change": AttributeUpdate(active=True)})
    ]
    assert harness.users()[leaver]["active"] is True


def test_membership_changes_are_sent_as_the_configured_member_verbs(with_groups):
    harness = with_groups
    harness.cycle()
    engineers = expected_members(harness, "g-dept-engineering")
    leaver = sorted(
        engineers
        - harness.upns(
            "select userPrincipalName from users u join app_assignments a on a.principal_id = u.id"
        )
    )[0]
    leaver_id = harness.users()[leaver]["id"]
    group_id = harness.target.by(GROUP, "displayName")["Department Engineering"].id
    harness.sql(
        "delete from group_members where group_id = 'g-dept-engineering' and member_id = "
        "(select id from users where userPrincipalName = :upn)",
        upn=leaver,
    )
    harness.target.reset()
    harness.cycle()
    writes = harness.target.writes()
    assert Call("set_active", USER, leaver_id, {"active": False}) in writes  # out of the wiki's scope
    assert Call("remove_members", GROUP, group_id, {"members": [leaver_id]}) in writes
    assert harness.member_names("Department Engineering") == engineers - {leaver}

    # the same change, written as one replace of the member list
    groups = harness.raw("groups")
    harness.configure(groups={**groups, "members": {**groups["members"], "removal": "replace"}})
    back = sorted(engineers - {leaver})[0]
    harness.sql(
        "delete from group_members where group_id = 'g-dept-engineering' and member_id = "
        "(select id from users where userPrincipalName = :upn)",
        upn=back,
    )
    harness.target.reset()
    harness.cycle()
    replaces = {c.id: c for c in harness.target.writes() if c.object_type == GROUP}
    assert {c.verb for c in replaces.values()} == {"replace_members"} and group_id in replaces
    assert back not in {harness.users_by_id()[m] for m in replaces[group_id].arguments["members"]}
    assert harness.member_names("Department Engineering") == engineers - {leaver, back}


def test_existing_accounts_are_matched_not_duplicated(harness):
    expected = harness.expected_wiki_users()
    upn_a, upn_b = expected.index[0], expected.index[1]
    # differs in case: userName matching is case-insensitive
    a = harness.target.seed(USER, {"userName": upn_a.upper(), "title": "stale"}, active=False)
    # another userName, but carries the directory id: matched by the second rule, externalId
    b = harness.target.seed(USER, {"userName": "legacy-b", "externalId": expected.loc[upn_b, "id"]})
    result = harness.cycle()
    assert result["match"]["matched"] == 2 and result["report"]["status"] == "succeeded"
    assert len(harness.target.objects(USER)) == len(expected)  # no duplicates
    assert verbs(harness.target.writes()) == {("create", USER): len(expected) - 2, ("update", USER): 2}
    accounts = harness.users()
    assert accounts[upn_a]["id"] == a.id and accounts[upn_a]["active"] is True
    assert accounts[upn_a]["title"] == expected.loc[upn_a, "jobTitle"]
    assert accounts[upn_b]["id"] == b.id
    links = harness.store.links("demo_wiki")
    assert links[expected.loc[upn_a, "id"]].target_id == a.id
    assert links[expected.loc[upn_b, "id"]].target_id == b.id


@pytest.mark.parametrize("searchable", [True, False], ids=["find", "find-refused"])
def test_a_new_user_is_matched_by_a_query_or_a_listing_when_the_app_refuses_it(
    directory_db, tmp_path, searchable
):
    harness = MemoryHarness(directory_db, tmp_path / "state.db")
    harness.cycle()
    users = harness.raw("users")
    harness.configure(users={**users, "matching": [{"target": EMAIL}]})
    if not searchable:
        harness.target.searchable = {USER: {"userName", "externalId"}}  # not by e-mail
    existing = harness.target.seed(USER, {"userName": "someone-else", EMAIL: "NEW.HIRE@contoso.example"})
    harness.sql(
        "insert into users (id, userPrincipalName, mail, givenName, surname, displayName, department, "
        "accountEnabled) values ('new1', 'new.hire@contoso.example', 'new.hire@contoso.example', 'New', "
        "'Hire', 'New Hire', 'Engineering', 1)"
    )
    harness.sql("insert into group_members values ('g-dept-engineering', 'new1', 'user')")
    harness.target.reset()
    result = harness.cycle()
    assert result["match"]["matched"] == 1 and result["match"]["lookup"] == "filter"
    assert harness.store.links("demo_wiki")["new1"].target_id == existing.id
    reads = [
        (c.verb, c.arguments.get("path"), c.error) for c in harness.target.calls if c.verb in ("find", "list")
    ]
    if searchable:
        assert reads == [("find", EMAIL, None)]
    else:  # no rule left to ask: the account is found in one listing
        assert reads == [("find", EMAIL, "QueryRefused"), ("list", None, None)]
        (note,) = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["error_code"] == "FilterRefused"]
        assert EMAIL in note["error_message"]
    assert harness.users()["new.hire@contoso.example"]["id"] == existing.id
    assert not [c for c in harness.target.writes() if c.verb == "create"]


def test_with_deletion_allowed_a_leaver_is_deleted_and_leaves_its_groups(with_groups):
    harness = with_groups
    users = harness.raw("users")
    harness.configure(
        users={**users, "actions": [*users["actions"], "delete"], "deprovision": {"action": "delete"}}
    )
    harness.cycle()
    leaver = sorted(expected_members(harness, "g-dept-engineering"))[0]
    account = harness.users()[leaver]["id"]
    engineering = harness.target.by(GROUP, "displayName")["Department Engineering"].id
    harness.sql("update users set accountEnabled=0 where userPrincipalName=:upn", upn=leaver)
    harness.target.reset()
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    writes = harness.target.writes()
    assert [c for c in writes if c.object_type == USER] == [Call("delete", USER, account, {})]
    assert Call("remove_members", GROUP, engineering, {"members": [account]}) in writes
    assert leaver not in harness.users()
    assert harness.member_names("Department Engineering") == expected_members(harness, "g-dept-engineering")
    (entry,) = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["object_type"] == USER]
    assert entry["action"] == Action.DELETE and entry["status"] == LogStatus.SUCCESS
    assert leaver not in harness.store.links("demo_wiki")
