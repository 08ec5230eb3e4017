from provisioning.config.mappings import DirectMapping
from provisioning.engine.desired import OUT_OF_SCOPE_DELETED, DesiredUser
from provisioning.engine.mapping import REDACTED, compile_mappings
from provisioning.engine.plan import LinkState
from provisioning.engine.user_plan import plan_users
from tests.support.scim_requests import scim_paths, scim_request

CONFIG_MAPPINGS = [
    DirectMapping(target="userName", source="userPrincipalName"),
    DirectMapping(target="title", source="jobTitle"),
    DirectMapping(target="nickName", source="givenName", apply="on_create"),
    DirectMapping(target="employeeNumber", source="employeeId", sensitive=True),
]
MAPPINGS = compile_mappings(CONFIG_MAPPINGS)
PATHS = scim_paths(CONFIG_MAPPINGS)
ALL = ("create", "update", "disable")


def user(source_id, in_scope=True, **attrs):
    base = {"userName": f"{source_id}@x", "title": "Dev", "nickName": "N", "employeeNumber": "E1"}
    return DesiredUser(
        source_id,
        f"{source_id}@x",
        in_scope,
        None if in_scope else "not assigned",
        {**base, **attrs} if in_scope else {},
    )


def link(target_id, active=True, **attrs):
    base = {"userName": f"{target_id[1:]}@x", "title": "Dev", "nickName": "N", "employeeNumber": "E1"}
    return LinkState(target_id, {**base, **attrs}, active)


def test_nothing_changed_means_no_action():
    plan = plan_users([user("u1")], {"u1": link("au1")}, MAPPINGS, PATHS, ALL)
    assert plan.actions == [] and plan.counts()["unchanged"] == 1


def test_update_patches_only_changed_paths_and_ignores_on_create_and_null():
    plan = plan_users(
        [user("u1", title="Lead", nickName="changed", employeeNumber="E2")],
        {"u1": link("au1")},
        MAPPINGS,
        PATHS,
        ALL,
    )
    (action,) = plan.actions
    assert action.action == "update" and action.target_id == "au1"
    assert scim_request(action)["Operations"] == [
        {"op": "replace", "path": "title", "value": "Lead"},
        {"op": "replace", "path": "employeeNumber", "value": "E2"},
    ]
    # the log sees old -> new, with sensitive values redacted
    assert {"path": "employeeNumber", "old": REDACTED, "new": REDACTED} in action.modified
    plan = plan_users([user("u1", title=None)], {"u1": link("au1")}, MAPPINGS, PATHS, ALL)
    assert plan.actions == []  # a null is not sent


def test_create_disable_enable_and_deleted_users():
    links = {"u2": link("au2"), "u3": link("au3", active=False, title="Old"), "u4": link("au4")}
    desired = [user("u1"), user("u2", in_scope=False), user("u3")]
    plan = plan_users(desired, links, MAPPINGS, PATHS, ALL)
    by_source = {a.source_id: a for a in plan.actions}
    assert by_source["u1"].action == "create"
    assert (
        scim_request(by_source["u1"])["active"] is True
        and scim_request(by_source["u1"])["userName"] == "u1@x"
    )
    assert by_source["u2"].action == "disable"
    assert scim_request(by_source["u2"])["Operations"] == [
        {"op": "replace", "path": "active", "value": False}
    ]
    assert by_source["u3"].action == "enable"
    assert scim_request(by_source["u3"])["Operations"] == [
        {"op": "replace", "path": "title", "value": "Dev"},
        {"op": "replace", "path": "active", "value": True},
    ]
    assert by_source["u4"].action == "disable" and by_source["u4"].reason == OUT_OF_SCOPE_DELETED


def test_disallowed_actions_are_skipped_and_excluded_sources_untouched():
    links = {"u2": link("au2")}
    plan = plan_users([user("u1"), user("u2", in_scope=False)], links, MAPPINGS, PATHS, ("update",))
    assert plan.actions == []
    assert sorted((s[0], s[2]) for s in plan.skipped) == [
        ("u1", "ActionNotAllowed"),
        ("u2", "ActionNotAllowed"),
    ]
    plan = plan_users([user("u3")], {"u3": link("au3", active=False)}, MAPPINGS, PATHS, ("create", "disable"))
    assert plan.actions == [] and plan.skipped[0][2:] == (
        "ActionNotAllowed",
        "enable is not allowed by the app config",
    )
    plan = plan_users([user("u1")], {}, MAPPINGS, PATHS, ALL, excluded={"u1"})
    assert plan.actions == [] and plan.skipped == []


def test_a_user_without_username_is_skipped_before_any_api_call():
    plan = plan_users([user("u1", userName=None), user("u2")], {}, MAPPINGS, PATHS, ALL)
    assert [a.source_id for a in plan.actions] == ["u2"]
    assert plan.skipped == [("u1", "u1@x", "MissingRequiredAttribute", "userName has no value")]


def test_none_mapping_fills_only_an_empty_attribute_and_clear_when_null_removes():
    from provisioning.config.mappings import NoneMapping

    config = [
        DirectMapping(target="userName", source="userPrincipalName"),
        NoneMapping(target="locale", default="en-US"),
        DirectMapping(target="title", source="jobTitle", clear_when_null=True),
    ]
    mappings = compile_mappings(config)
    paths = scim_paths(config)
    desired = DesiredUser("u1", "u1@x", True, None, {"userName": "u1@x", "locale": "en-US", "title": None})
    plan = plan_users([desired], {}, mappings, paths, ALL)
    assert scim_request(plan.actions[0])["locale"] == "en-US" and "title" not in scim_request(plan.actions[0])
    # the app has a locale of its own: left alone; the title went null in the directory: removed
    link = LinkState("a1", {"userName": "u1@x", "locale": "fr-FR", "title": "Dev"}, True)
    (action,) = plan_users([desired], {"u1": link}, mappings, paths, ALL).actions
    assert scim_request(action)["Operations"] == [{"op": "remove", "path": "title"}]
    assert action.modified == [{"path": "title", "old": "Dev", "new": None}]
    assert action.attributes["title"] is None
    # an empty locale gets the default
    empty = LinkState("a1", {"userName": "u1@x", "locale": None, "title": None}, True)
    (action,) = plan_users([desired], {"u1": empty}, mappings, paths, ALL).actions
    assert scim_request(action)["Operations"] == [{"op": "replace", "path": "locale", "value": "en-US"}]


def test_manager_targets_are_normalised_to_the_value_sub_attribute():
    from provisioning.config.target import ScimTargetConfig
    from provisioning.connectors.scim.paths import ENTERPRISE_USER_SCHEMA

    target = ScimTargetConfig.normalize_path(f"{ENTERPRISE_USER_SCHEMA}:manager")
    assert target == f"{ENTERPRISE_USER_SCHEMA}:manager.value"


def test_select_unique_value_takes_the_first_free_candidate():
    from provisioning.config.mappings import ExpressionMapping

    config = [
        DirectMapping(target="userName", source="userPrincipalName"),
        ExpressionMapping(
            target="nickName",
            apply="on_create",
            expression=(
                'SelectUniqueValue(Join(".", [givenName], [surname]), '
                'Join(".", Mid([givenName], 1, 1), [surname]), Join(".", Mid([givenName], 1, 2), [surname]))'
            ),
        ),
    ]
    mappings = compile_mappings(config)
    paths = scim_paths(config)
    rows = [{"userPrincipalName": f"u{i}@x", "givenName": "John", "surname": "Smith"} for i in range(4)]
    desired = [
        DesiredUser(f"u{i}", f"u{i}@x", True, None, {m.target: m.evaluate(r) for m in mappings})
        for i, r in enumerate(rows)
    ]
    in_app = {"John.Smith"}  # taken in the app, not by one of our links
    plan = plan_users(desired, {}, mappings, paths, ALL, is_taken=lambda path, value: value in in_app)
    assert [scim_request(a)["nickName"] for a in plan.actions] == ["J.Smith", "Jo.Smith"]  # then none left
    assert [(s[0], s[2]) for s in plan.skipped] == [
        ("u2", "UniqueValueUnavailable"),
        ("u3", "UniqueValueUnavailable"),
    ]
    # a value one of our linked accounts holds counts as taken too, without asking the app
    links = {"x": LinkState("ax", {"userName": "x@x", "nickName": "J.Smith"}, True)}
    plan = plan_users(desired[:1], links, mappings, paths, ALL, is_taken=lambda path, value: value in in_app)
    assert scim_request(plan.actions[0])["nickName"] == "Jo.Smith"


def test_deprovision_policies():
    from datetime import UTC, datetime, timedelta

    from provisioning.engine.user_plan import DeprovisionPolicy

    now = datetime(2026, 6, 1, tzinfo=UTC)
    links = {
        "a": link("ta"),
        "b": LinkState("tb", {}, False, now - timedelta(days=40)),
        "c": LinkState("tc", {}, False, now - timedelta(days=5)),
    }
    gone = [user("a", in_scope=False), user("b", in_scope=False), user("c", in_scope=False)]

    def actions(policy):
        result = plan_users(gone, links, MAPPINGS, PATHS, (*ALL, "delete"), deprovision=policy, now=now)
        return sorted((a.source_id, a.action) for a in result.actions)

    assert actions(DeprovisionPolicy()) == [("a", "disable")]
    assert actions(DeprovisionPolicy("skip")) == []
    assert actions(DeprovisionPolicy("delete")) == [("a", "delete"), ("b", "delete"), ("c", "delete")]
    assert actions(DeprovisionPolicy("delete", 30)) == [("a", "disable"), ("b", "delete")]


def test_a_delete_is_never_planned_unless_actions_allow_it():
    from datetime import UTC, datetime, timedelta

    from provisioning.engine.user_plan import DeprovisionPolicy

    now = datetime(2026, 6, 1, tzinfo=UTC)
    links = {"a": link("ta"), "b": LinkState("tb", {}, False, now - timedelta(days=40))}
    gone = [user("a", in_scope=False), user("b", in_scope=False)]
    plan = plan_users(gone, links, MAPPINGS, PATHS, ALL, deprovision=DeprovisionPolicy("delete"), now=now)
    assert plan.actions == []
    assert sorted(plan.skipped) == [
        ("a", "a@x", "ActionNotAllowed", "delete is not allowed by the app config"),
        ("b", "b@x", "ActionNotAllowed", "delete is not allowed by the app config"),
    ]
    # delete after days: the disable still goes out, the later delete is held back
    plan = plan_users(gone, links, MAPPINGS, PATHS, ALL, deprovision=DeprovisionPolicy("delete", 30), now=now)
    assert [(a.source_id, a.action) for a in plan.actions] == [("a", "disable")]
    assert [s[:3] for s in plan.skipped] == [("b", "b@x", "ActionNotAllowed")]


def test_an_account_of_unknown_state_is_brought_to_the_desired_one():
    from datetime import UTC, datetime

    from provisioning.engine.user_plan import DeprovisionPolicy

    unknown = {"u1": link("au1", active=None), "u2": link("au2", active=None)}
    plan = plan_users([user("u1"), user("u2", in_scope=False)], unknown, MAPPINGS, PATHS, ALL)
    by_source = {a.source_id: a for a in plan.actions}
    assert by_source["u1"].action == "enable"
    assert scim_request(by_source["u1"])["Operations"] == [{"op": "replace", "path": "active", "value": True}]
    assert by_source["u2"].action == "disable"
    # with delete after days, an account that may be active is disabled first, not left alone
    now = datetime(2026, 6, 1, tzinfo=UTC)
    policy = DeprovisionPolicy("delete", 30)
    leaver = {"u2": unknown["u2"]}
    plan = plan_users([user("u2", in_scope=False)], leaver, MAPPINGS, PATHS, ALL, deprovision=policy, now=now)
    assert [(a.source_id, a.action) for a in plan.actions] == [("u2", "disable")]
