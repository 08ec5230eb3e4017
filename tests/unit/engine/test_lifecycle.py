"""Joiner, mover, leaver labels as the user plan sets them, whatever the source."""

from provisioning.config.mappings import DirectMapping, ExpressionMapping
from provisioning.engine.lifecycle import mover_paths
from provisioning.engine.mapping import compile_mappings
from provisioning.engine.user_plan import plan_users
from tests.unit.engine.test_plan import ALL, MAPPINGS, PATHS, link, user


def test_creates_and_re_enables_are_joiners_removals_leavers():
    links = {"u2": link("au2"), "u3": link("au3", active=False), "u4": link("au4")}
    plan = plan_users([user("u1"), user("u2", in_scope=False), user("u3")], links, MAPPINGS, PATHS, ALL)
    labels = {a.source_id: (a.action, a.lifecycle) for a in plan.actions}
    assert labels == {
        "u1": ("create", "joiner"),
        "u2": ("disable", "leaver"),
        "u3": ("enable", "joiner"),
        "u4": ("disable", "leaver"),  # deleted from the directory
    }


def test_an_update_is_a_movers_only_when_a_mover_attribute_changes():
    (title,) = plan_users([user("u1", title="Lead")], {"u1": link("au1")}, MAPPINGS, PATHS, ALL).actions
    assert title.lifecycle == "mover"  # title is mapped from jobTitle
    (number,) = plan_users(
        [user("u1", employeeNumber="E9")], {"u1": link("au1")}, MAPPINGS, PATHS, ALL
    ).actions
    assert number.action == "update" and number.lifecycle is None


def test_mover_paths_follow_direct_and_expression_mappings():
    mappings = compile_mappings(
        [
            DirectMapping(target="title", source="jobTitle"),
            ExpressionMapping(target="nickName", expression='Join("/", [department], [givenName])'),
            DirectMapping(target="manager", source="manager"),
            DirectMapping(target="userName", source="userPrincipalName"),
        ]
    )
    assert mover_paths(mappings) == {"title", "nickName", "manager"}
