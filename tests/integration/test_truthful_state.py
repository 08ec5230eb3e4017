"""The state we act on is the state that is: an account's unknown `active`, an accountEnabled that
is no true/false value, and ids stored as numbers, through whole cycles against a real SCIM
server and a real SQLite directory."""

import pytest

from provisioning.connectors.scim.client import ScimClient
from tests.integration.cycle_helpers import Harness

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    return Harness(directory_db, scim_app, tmp_path / "state.db")


def test_an_account_matched_without_active_ends_active(harness):
    upn = harness.expected_wiki_users().index[0]
    with ScimClient(harness.scim_app.server.url, harness.scim_app.token) as client:
        created = client.create_resource("user", {"schemas": [CORE], "userName": upn})
    assert "active" not in harness.scim_app.by_username()[upn]  # the app really says nothing

    harness.cycle()
    account = harness.scim_app.by_username()[upn]
    assert account["id"] == created["id"] and account["active"] is True
    (row,) = [r for r in harness.store.log("demo_wiki", "cycle-1") if r["target_id"] == created["id"]]
    assert row["action"] == "enable" and row["status"] == "success"
    assert harness.cycle()["diff"]["counts"]["enable"] == 0  # settled: no enable every cycle


def test_an_account_enabled_that_is_no_true_false_value_disables_the_account(harness):
    harness.cycle()
    leaver, other, shouty = sorted(harness.expected_wiki_users().index)[:3]
    harness.sql("update users set accountEnabled = 'terminated' where userPrincipalName = :u", u=leaver)
    harness.sql("update users set accountEnabled = 'maybe' where userPrincipalName = :u", u=other)
    harness.sql("update users set accountEnabled = ' YES ' where userPrincipalName = :u", u=shouty)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    accounts = harness.scim_app.by_username()
    assert accounts[leaver]["active"] is False and accounts[other]["active"] is False
    assert accounts[shouty]["active"] is True
    details = {
        r["source_display"]: r["detail"]
        for r in harness.store.log("demo_wiki", "cycle-2")
        if r["action"] == "disable" and r["status"] == "success"
    }
    assert details == {
        leaver: "accountEnabled is 'terminated', not a true/false value: treated as disabled",
        other: "accountEnabled is 'maybe', not a true/false value: treated as disabled",
    }


def test_integer_ids_with_one_null_still_assign_everyone_else(harness):
    expected = harness.expected_wiki_users()
    # the same directory with numeric ids (u0000042 -> 42), and one extra row whose id is NULL
    harness.sql("alter table users rename to users_text")
    harness.sql(
        "create table users (id INTEGER, userPrincipalName TEXT, mail TEXT, givenName TEXT, surname TEXT, "
        "displayName TEXT, department TEXT, jobTitle TEXT, employeeId TEXT, accountEnabled BOOLEAN, "
        "manager INTEGER, updatedAt DATETIME)"
    )
    harness.sql(
        "insert into users select cast(substr(id, 2) as integer), userPrincipalName, mail, givenName, "
        "surname, displayName, department, jobTitle, employeeId, accountEnabled, "
        "cast(substr(manager, 2) as integer), updatedAt from users_text"
    )
    harness.sql(
        "insert into users (id, userPrincipalName, accountEnabled) values (NULL, 'noid@x.example', 1)"
    )
    for relation, column, kind in (
        ("group_members", "member_id", "member_type"),
        ("app_assignments", "principal_id", "principal_type"),
    ):
        harness.sql(
            f"update {relation} set {column} = cast(substr({column}, 2) as integer) where {kind} = 'user'"
        )

    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    accounts = harness.scim_app.by_username()
    assert set(accounts) == set(expected.index)
    upn = expected.index[0]
    assert accounts[upn]["externalId"] == str(int(expected.loc[upn, "id"][1:]))  # "42", not "42.0"
    (bad,) = [r for r in harness.store.log("demo_wiki", "cycle-1") if r["status"] == "skipped"]
    assert (bad["source_id"], bad["error_code"]) == ("(null id) noid@x.example", "InvalidDirectoryData")
    assert bad["error_message"] == "the directory row has a null id (users.id): it cannot be provisioned"
