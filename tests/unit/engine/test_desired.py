import pandas as pd
import pytest

from provisioning.config.mappings import ConstantMapping, DirectMapping
from provisioning.engine.desired import (
    OUT_OF_SCOPE_DISABLED,
    OUT_OF_SCOPE_NOT_ASSIGNED,
    account_enabled,
    desired_users,
)
from provisioning.engine.mapping import compile_mappings

USERS = pd.DataFrame(
    [
        {
            "id": "u1",
            "userPrincipalName": "a@x",
            "givenName": "Ana",
            "accountEnabled": True,
            "jobTitle": None,
        },
        {
            "id": "u2",
            "userPrincipalName": "b@x",
            "givenName": "Bo",
            "accountEnabled": False,
            "jobTitle": "CTO",
        },
        {"id": "u3", "userPrincipalName": "c@x", "givenName": None, "accountEnabled": 1, "jobTitle": "Dev"},
    ]
)
MEMBERS = pd.DataFrame([("g1", "u3", "user")], columns=["group_id", "member_id", "member_type"])
ASSIGN = pd.DataFrame(
    [("wiki", "u1", "user"), ("wiki", "u2", "user"), ("wiki", "g1", "group")],
    columns=["app", "principal_id", "principal_type"],
)
MAPPINGS = compile_mappings(
    [
        DirectMapping(target="userName", source="userPrincipalName"),
        DirectMapping(target="name.givenName", source="givenName", default="(none)"),
        DirectMapping(target="title", source="jobTitle"),
        ConstantMapping(target="userType", value="Employee"),
    ]
)


def test_scope_mapping_defaults_and_nulls():
    result = {d.source_id: d for d in desired_users("wiki", "assigned", USERS, ASSIGN, MEMBERS, MAPPINGS)}
    assert result["u1"].in_scope
    assert result["u1"].attributes == {
        "userName": "a@x",
        "name.givenName": "Ana",
        "title": None,  # null stays null: it is not sent
        "userType": "Employee",
    }
    assert not result["u2"].in_scope and result["u2"].reason == OUT_OF_SCOPE_DISABLED
    assert result["u2"].attributes == {}
    assert result["u3"].attributes["name.givenName"] == "(none)"  # default when the source is null


def test_scope_all_ignores_assignments_but_not_disabled_accounts():
    result = {d.source_id: d for d in desired_users("crm", "all", USERS, ASSIGN, MEMBERS, MAPPINGS)}
    assert [k for k, d in result.items() if d.in_scope] == ["u1", "u3"]
    assigned_only = {
        d.source_id: d for d in desired_users("crm", "assigned", USERS, ASSIGN, MEMBERS, MAPPINGS)
    }
    assert all(d.reason == OUT_OF_SCOPE_NOT_ASSIGNED for d in assigned_only.values() if d.source_id != "u2")


def test_a_row_that_cannot_be_mapped_is_skipped_with_the_reason_and_others_proceed():
    from provisioning.config.mappings import ExpressionMapping
    from provisioning.engine.user_plan import plan_users
    from tests.support.scim_requests import scim_paths

    config_mappings = [
        DirectMapping(target="userName", source="userPrincipalName"),
        ExpressionMapping(target="title", expression="CStr(CDate([jobTitle]))"),
    ]
    mappings = compile_mappings(config_mappings)
    users = USERS.assign(jobTitle=["2020-01-01", "not a date", "2021-06-30+08:00"], accountEnabled=True)
    result = {d.source_id: d for d in desired_users("wiki", "all", users, ASSIGN, MEMBERS, mappings)}
    assert result["u1"].attributes["title"] == "1/1/2020 12:00:00 AM"
    assert result["u2"].error == (
        "mapping to title failed: CStr(CDate([jobTitle])): 'not a date' is not a date/time CDate understands"
    )
    paths = scim_paths(config_mappings)
    plan = plan_users(result.values(), {}, mappings, paths, ("create", "update", "disable"))
    assert sorted(a.source_id for a in plan.actions) == ["u1", "u3"]
    assert plan.skipped == [("u2", "b@x", "MappingError", result["u2"].error)]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        *[(v, True) for v in (True, 1, 1.0, "true", "TRUE", " Yes ", "y", "T", "on", "Enabled", "1")],
        *[(v, False) for v in (False, 0, 0.0, "false", "No", "n", "F", "OFF", "disabled", "0")],
    ],
)
def test_account_enabled_accepts_the_documented_spellings(value, enabled):
    assert account_enabled(value) is enabled


@pytest.mark.parametrize("value", [None, float("nan"), "terminated", "maybe", "", "2", 2, -1, "active"])
def test_any_other_account_enabled_fails_closed_with_the_value_in_the_reason(value):
    users = USERS.astype(object).assign(accountEnabled=[True, True, value])
    result = {d.source_id: d for d in desired_users("crm", "all", users, ASSIGN, MEMBERS, MAPPINGS)}
    assert account_enabled(value) is None
    assert result["u1"].in_scope and not result["u3"].in_scope
    shown = "null" if value is None or value != value else repr(value)
    assert result["u3"].reason == f"accountEnabled is {shown}, not a true/false value: treated as disabled"


def test_a_row_with_a_null_id_is_reported_and_the_others_are_mapped():
    users = USERS.astype(object).assign(id=["u1", None, "u3"])
    result = desired_users("crm", "all", users, ASSIGN, MEMBERS, MAPPINGS)
    assert [d.source_id for d in result if d.in_scope and not d.error] == ["u1", "u3"]
    (bad,) = [d for d in result if d.error]
    assert (bad.source_id, bad.display, bad.error_code) == ("(null id) b@x", "b@x", "InvalidDirectoryData")
    assert bad.error == "the directory row has a null id (users.id): it cannot be provisioned"
