"""Regular expressions from the config run with a time limit: a pattern that backtracks
catastrophically on one user's value skips that user with a clear reason, it does not hang the cycle."""

import time

import pandas as pd
import pytest

from provisioning.config.mappings import DirectMapping, ExpressionMapping
from provisioning.engine.desired import desired_users
from provisioning.engine.desired_groups import desired_groups
from provisioning.engine.expressions import compile_expression, patterns
from provisioning.engine.mapping import compile_mappings
from provisioning.engine.scoping import ScopingError, ScopingFilter, compile_clause, in_scope

# (a|aa)+$ tries every split of the a's before failing on the "!": exponential in their number
EVIL = "(a|aa)+$"
VICTIM = "a" * 40 + "!"
USERS = pd.DataFrame(
    [
        {"id": "u1", "userPrincipalName": "ana@x", "department": "aaa", "accountEnabled": True},
        {"id": "u2", "userPrincipalName": "bo@x", "department": VICTIM, "accountEnabled": True},
    ]
)
NONE = pd.DataFrame(columns=["app", "principal_id", "principal_type"])
NO_MEMBERS = pd.DataFrame(columns=["group_id", "member_id", "member_type"])
MAPPINGS = compile_mappings([DirectMapping(target="userName", source="userPrincipalName")])


def timed(function, *args):
    started = time.monotonic()
    result = function(*args)
    return result, time.monotonic() - started


@pytest.mark.parametrize("operator", ["REGEX MATCH", "NOT REGEX MATCH"])
def test_a_scoping_regex_over_its_time_limit_skips_that_user_only(operator):
    filters = [ScopingFilter("sales only", (compile_clause("department", operator, EVIL),))]
    result, seconds = timed(desired_users, "wiki", "all", USERS, NONE, NO_MEMBERS, MAPPINGS, filters)
    assert seconds < 3 * patterns.TIMEOUT_SECONDS + 1
    users = {d.source_id: d for d in result}
    assert users["u1"].error is None and users["u1"].in_scope == (operator == "REGEX MATCH")
    skipped = users["u2"]
    assert skipped.in_scope and skipped.attributes == {} and skipped.error_code == "ScopingError"
    assert skipped.error.startswith(f"scoping filter 'sales only', clause department {operator} '{EVIL}': ")
    assert "0.5 s time limit on a value of 41 characters" in skipped.error


def test_a_replace_regex_over_its_time_limit_is_a_mapping_error_of_that_user():
    mappings = compile_mappings(
        [
            DirectMapping(target="userName", source="userPrincipalName"),
            ExpressionMapping(target="title", expression=f'Replace([department], , "{EVIL}", , "x", , )'),
        ]
    )
    result, seconds = timed(desired_users, "wiki", "all", USERS, NONE, NO_MEMBERS, mappings)
    assert seconds < 3 * patterns.TIMEOUT_SECONDS + 1
    users = {d.source_id: d for d in result}
    assert users["u1"].attributes["title"] == "x"
    assert users["u2"].error.startswith("mapping to title failed: Replace(")
    assert f"regular expression '{EVIL}' ran over its 0.5 s time limit" in users["u2"].error


def test_the_textbook_pattern_returns_at_once():
    clause = compile_clause("department", "REGEX MATCH", "(a+)+$")
    _, seconds = timed(clause.evaluate, {"department": "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"})
    assert seconds < 1


def test_a_group_whose_scoping_times_out_is_skipped_not_dropped():
    groups = pd.DataFrame([{"id": "g1", "displayName": "A", "department": VICTIM}])
    filters = [ScopingFilter("f", (compile_clause("department", "REGEX MATCH", EVIL),))]
    mappings = compile_mappings([DirectMapping(target="displayName", source="displayName")])
    (group,) = desired_groups("wiki", "all", groups, NONE, NO_MEMBERS, mappings, filters)
    assert group.in_scope and "time limit" in group.error


def test_in_scope_raises_a_scoping_error_naming_the_filter():
    filters = [ScopingFilter("f", (compile_clause("department", "REGEX MATCH", EVIL),))]
    with pytest.raises(ScopingError, match="scoping filter 'f'"):
        in_scope(filters, {"department": VICTIM})


def test_replace_patterns_are_compiled_once_for_all_users():
    expression = compile_expression('Replace([department], , "(?<x>b+)", , "c", , )')
    patterns.dotnet_regex.cache_clear()
    for i in range(50):
        assert expression.evaluate({"department": f"a{'b' * i}"}) == ("ac" if i else "a")
    assert patterns.dotnet_regex.cache_info().misses == 1
