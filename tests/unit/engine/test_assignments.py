import pandas as pd

from provisioning.engine.assignments import assigned_user_ids, expand_groups


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


MEMBERS = frame(
    [
        ("g-all", "g-tech", "group"),
        ("g-tech", "g-eng", "group"),
        ("g-eng", "u1", "user"),
        ("g-tech", "u2", "user"),
        ("g-other", "u3", "user"),
        # a cycle: x contains y contains x
        ("g-x", "g-y", "group"),
        ("g-y", "g-x", "group"),
        ("g-y", "u4", "user"),
    ],
    ["group_id", "member_id", "member_type"],
)


def test_nested_groups_are_expanded_at_any_depth():
    assignments = frame([("wiki", "g-all", "group")], ["app", "principal_id", "principal_type"])
    assert assigned_user_ids("wiki", assignments, MEMBERS) == {"u1", "u2"}


def test_direct_and_group_assignment_combine_and_other_apps_do_not_leak():
    assignments = frame(
        [("wiki", "u3", "user"), ("wiki", "g-eng", "group"), ("crm", "g-tech", "group")],
        ["app", "principal_id", "principal_type"],
    )
    assert assigned_user_ids("wiki", assignments, MEMBERS) == {"u1", "u3"}


def test_membership_cycles_terminate():
    assert expand_groups(["g-x"], MEMBERS) == {"g-x", "g-y"}
    assignments = frame([("crm", "g-x", "group")], ["app", "principal_id", "principal_type"])
    assert assigned_user_ids("crm", assignments, MEMBERS) == {"u4"}


def test_a_group_that_contains_itself_terminates():
    members = frame([("g-self", "g-self", "group"), ("g-self", "u9", "user")], list(MEMBERS.columns))
    assignments = frame([("a", "g-self", "group")], ["app", "principal_id", "principal_type"])
    assert assigned_user_ids("a", assignments, members) == {"u9"}
