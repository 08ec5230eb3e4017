import pandas as pd

from provisioning.config.models import ConstantMapping, DirectMapping
from provisioning.engine.desired import OUT_OF_SCOPE_DISABLED, OUT_OF_SCOPE_NOT_ASSIGNED, desired_users
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
