from pathlib import Path

import pytest

from provisioning.config import ConfigError, app_config_paths, load_app_config
from provisioning.config.loader import DEFAULT_APPS_DIR
from provisioning.cycle.context import ObjectRules

GOOD = """
directory: {conn_id: hr_db}
target: {conn_id: scim_x}
users:
  matching: [{target: userName}, {target: 'emails[type eq "work"].value'}]
  mappings:
    - {target: userName, source: userPrincipalName}
    - {target: 'emails[type eq "work"].value', source: mail}
    - {target: userType, value: Employee}
"""


def write(tmp_path: Path, text: str, name: str = "acme") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    assert str(path) in str(info.value)  # every error names the file
    return info.value.problems


def test_defaults_and_inferred_mapping_types(tmp_path):
    config = load_app_config(write(tmp_path, GOOD))
    assert config.app == "acme" and config.dag_id == "provision_acme"
    assert config.schedule == "*/10 * * * *"
    assert config.users.scope == "assigned"
    assert config.users.actions == ["create", "update", "disable"]
    assert [m.type for m in config.users.mappings] == ["direct", "direct", "constant"]
    rules = ObjectRules.compile(config.users, config.target, "user").rules
    assert [r.case_sensitive for r in rules] == [False, False]


def test_schedule_forms(tmp_path):
    from datetime import timedelta

    assert load_app_config(write(tmp_path, GOOD + "schedule: 15m\n")).schedule_value() == timedelta(
        minutes=15
    )
    assert load_app_config(write(tmp_path, GOOD + "schedule: '@hourly'\n")).schedule_value() == "@hourly"
    assert load_app_config(write(tmp_path, GOOD + "schedule: null\n")).schedule_value() is None


def test_every_problem_is_reported_with_its_field_path(tmp_path):
    text = GOOD.replace("{conn_id: scim_x}", "{conn_id: scim_x, max_concurrency: 0}")
    text = text.replace("{target: userType, value: Employee}", "{target: 'name..x', value: 1, colour: red}")
    text += "schedule: every tuesday\n"
    found = dict(problems(write(tmp_path, text)))
    assert "greater than or equal to 1" in found["target.max_concurrency"]
    assert "not a SCIM attribute path" in found["users.mappings[2].target"]
    assert "unknown setting" in found["users.mappings[2].colour"]
    assert "not a cron expression" in found["schedule"]


def test_cross_field_problems_point_at_the_field(tmp_path):
    text = GOOD.replace("source: mail", "source: email").replace("{target: userName}, ", "{target: title}, ")
    text = text.replace("{target: userType, value: Employee}", "{target: UserName, value: x}")
    found = problems(write(tmp_path, text))
    assert any(
        loc == "users.mappings[1].source" and "'email' is not a directory attribute" in msg
        for loc, msg in found
    )
    assert any(loc == "users.mappings[2].target" and "already mapped" in msg for loc, msg in found)
    assert any(loc == "users.matching[0].target" and "not a mapped target" in msg for loc, msg in found)


def test_username_must_be_mapped_and_active_must_not(tmp_path):
    text = GOOD.replace("{target: userName, source: userPrincipalName}", "{target: active, value: true}")
    text = text.replace("[{target: userName}, ", "[")
    found = dict(problems(write(tmp_path, text)))
    assert "userName" in found["users.mappings"]
    assert "lifecycle" in found["users.mappings[0].target"]


def test_expression_mappings_are_compiled_when_the_config_is_loaded(tmp_path):
    good = GOOD.replace(
        "{target: userType, value: Employee}",
        """{target: nickName, expression: 'ToLower(Join(".", [givenName], [surname]))'}""",
    )
    config = load_app_config(write(tmp_path, good))
    assert config.users.mappings[2].type == "expression"
    bad = GOOD.replace(
        "{target: userType, value: Employee}",
        """{target: nickName, expression: 'Mid([givenName], 1)'}""",
    )
    found = dict(problems(write(tmp_path, bad)))
    assert "at position 1: Mid takes 3 argument(s), got 2" in found["users.mappings[2].expression"]


def test_expression_attributes_and_nondeterminism_are_checked(tmp_path):
    text = GOOD.replace(
        "{target: userType, value: Employee}",
        """{target: nickName, expression: 'Join(" ", [givenName], [nickname])'}
    - {target: externalId, expression: 'Guid()'}""",
    )
    found = dict(problems(write(tmp_path, text)))
    assert "[nickname] is not a directory attribute" in found["users.mappings[2].expression"]
    assert "set 'apply: on_create'" in found["users.mappings[3].apply"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("directory: [unclosed", "YAML syntax error at line 1"),
        ("- a list\n", "must hold a mapping"),
        ("", "must hold a mapping"),
        ("app: other\n" + GOOD, "must equal the file name"),
        ("directory: {conn_id: x}\n", "required setting is missing"),
    ],
)
def test_unreadable_files(tmp_path, text, message):
    assert any(message in msg for _, msg in problems(write(tmp_path, text)))


def test_shipped_demo_configs_are_valid():
    paths = app_config_paths(DEFAULT_APPS_DIR)
    assert {p.stem for p in paths} == {"demo_wiki", "demo_crm", "demo_chat"}
    for path in paths:
        load_app_config(path)


def test_scoping_filters_are_validated_where_they_are_written(tmp_path):
    text = (
        GOOD
        + """  scoping:
    - name: sales
      clauses:
        - {attribute: department, operator: EQUALS, value: Sales}
        - {attribute: employeeId, operator: Greater_Than, value: ten}
    - clauses:
        - {attribute: memberOf, operator: EQUALS, value: g-dept-sales}
        - {attribute: costCentre, operator: IS NOT NULL}
"""
    )
    found = problems(write(tmp_path, text))
    assert ("users.scoping[0].clauses[1]", "Greater_Than compares integers: 'ten' is not an integer") in found
    good = text.replace("value: ten", "value: 10")
    found = problems(write(tmp_path, good))
    assert found == [
        ("users.scoping[1].clauses[1].attribute", "'costCentre' is not a directory attribute (or memberOf)")
    ]
    config = load_app_config(write(tmp_path, good.replace("costCentre", "jobTitle")))
    assert [f.name for f in config.users.scoping_filters()] == ["sales", "filter 2"]


def test_select_unique_value_is_create_only_and_never_a_matching_attribute(tmp_path):
    unique = """SelectUniqueValue(Join("@", [givenName], "x.com"), Join("@", [surname], "x.com"))"""
    text = GOOD.replace(
        "{target: userType, value: Employee}", f"{{target: nickName, expression: '{unique}'}}"
    )
    assert (
        "users.mappings[2].apply",
        "SelectUniqueValue only applies when an account is created: set 'apply: on_create'",
    ) in problems(write(tmp_path, text))
    text = GOOD.replace("source: mail}", f"expression: '{unique}', apply: on_create}}").replace(
        "{target: 'emails[type eq \"work\"].value', source: mail}", ""
    )
    found = dict(problems(write(tmp_path, text)))
    assert "mapped only on create: it cannot match existing accounts" in found["users.matching[1].target"]


def test_lifecycle_defaults_are_the_safe_ones(tmp_path):
    config = load_app_config(write(tmp_path, GOOD))
    assert config.users.deprovision.action == "disable"
    assert config.accidental_deletions.enabled and config.accidental_deletions.max_count == 500
    assert config.quarantine.failure_ratio == 0.4
    assert config.groups is None  # the app's groups are left alone unless configured
    assert config.pool_name == "provisioning_acme"
    assert load_app_config(write(tmp_path, GOOD + "pool: ''\n")).pool_name == "default_pool"


GROUPS = """
groups:
  scope: all
  matching: [{target: externalId}, {target: displayName}]
  mappings:
    - {target: displayName, source: displayName}
    - {target: externalId, source: id}
  members: {batch_size: 100, removal: entra}
  on_leave_scope: delete
"""


def test_a_groups_section_is_validated_like_users(tmp_path):
    config = load_app_config(write(tmp_path, GOOD + GROUPS))
    assert config.groups.members.removal == "entra" and config.groups.on_leave_scope == "delete"
    bad = (
        GROUPS.replace("source: displayName", "source: mail")
        .replace("{target: displayName, ", "{target: description, ")
        .replace("removal: entra", "removal: sideways")
    )
    found = problems(write(tmp_path, GOOD + bad))
    assert found == [
        (
            "groups.members.removal",
            "Input should be 'rfc', 'entra' or 'replace'",
        )
    ]
    found = problems(write(tmp_path, GOOD + bad.replace("removal: sideways", "removal: rfc")))
    assert found == [
        (
            "groups.mappings[0].source",
            "'mail' is not a directory attribute (known: description, displayName, id, updatedAt; "
            "add others under directory.extra_group_attributes)",
        ),
        ("groups.mappings", "a mapping to 'displayName' is required (SCIM requires it)"),
        ("groups.matching[1].target", "'displayName' is not a mapped target"),
    ]


def test_group_members_are_the_lifecycle_s_not_a_mapping(tmp_path):
    text = GOOD + GROUPS.replace("- {target: externalId, source: id}", "- {target: members, source: id}")
    found = problems(write(tmp_path, text))
    assert ("groups.mappings[1].target", "'members' is managed by the provisioning lifecycle") in found


def test_deprovisioning_and_threshold_settings(tmp_path):
    text = GOOD.replace(
        "users:\n",
        "users:\n  actions: [create, update, disable, delete]\n"
        "  deprovision: {action: delete, delete_after_days: 30}\n",
    )
    config = load_app_config(
        write(tmp_path, text + "accidental_deletions: {max_count: 50, max_percent: 10}\n")
    )
    assert config.users.deprovision.delete_after_days == 30 and config.accidental_deletions.max_count == 50
    found = problems(write(tmp_path, GOOD.replace("users:\n", "users:\n  deprovision: {action: purge}\n")))
    assert found == [("users.deprovision.action", "Input should be 'disable', 'delete' or 'skip'")]


def test_deletes_need_delete_in_actions(tmp_path):
    text = GOOD.replace("users:\n", "users:\n  deprovision: {action: delete}\n")
    assert problems(write(tmp_path, text)) == [
        (
            "users.deprovision.action",
            "delete needs 'delete' in users.actions (deletes are opt-in twice); add it there, or use disable",
        )
    ]
    listed = text.replace("users:\n", "users:\n  actions: [update, disable]\n")
    assert problems(write(tmp_path, listed))[0][0] == "users.deprovision.action"
