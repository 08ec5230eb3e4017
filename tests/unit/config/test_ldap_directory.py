"""The ``kind: ldap`` directory section: every bad setting is named with its field path."""

import pytest

from provisioning.config import ConfigError, load_app_config
from tests.unit.config.test_loader import GOOD, write

LDAP = """{kind: ldap, conn_id: corp_ldap, users: {base_dn: 'ou=people,dc=example,dc=org'},
  groups: {base_dn: 'ou=groups,dc=example,dc=org'}, assignment: ASSIGNMENT EXTRA}"""


def config_with(assignment: str, extra: str = ""):
    text = LDAP.replace("ASSIGNMENT", assignment).replace("EXTRA", extra)
    return GOOD.replace("{conn_id: hr_db}", text)


def problems(tmp_path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_app_config(write(tmp_path, text))
    return dict(info.value.problems)


def test_a_good_section_loads_with_the_flavor_defaults(tmp_path):
    config = load_app_config(write(tmp_path, config_with("{groups: ['cn=App,ou=groups,dc=example,dc=org']}")))
    section = config.directory
    assert section.kind == "ldap" and section.flavor == "openldap"
    assert section.user_attributes()["id"] == "entryUUID"
    assert section.user_filter() == "(objectClass=inetOrgPerson)"


@pytest.mark.parametrize(
    ("assignment", "extra", "field", "message"),
    [
        ("{}", "", "directory.assignment", "give either groups (DNs) or attribute with values"),
        (
            "{groups: ['cn=A,dc=x'], attribute: title, values: [x]}",
            "",
            "directory.assignment",
            "give either groups (DNs) or attribute with values, not both nor neither",
        ),
        ("{attribute: title}", "", "directory.assignment", "attribute needs values"),
        ("{groups: [App-Wiki]}", "", "directory.assignment", "groups are DNs"),
        (
            "{attribute: title, values: [x]}",
            ", flavor: novell",
            "directory.flavor",
            "'openldap' or 'active_directory'",
        ),
        (
            "{attribute: title, values: [x]}",
            ", attributes: {phone: telephoneNumber}",
            "directory",
            "attributes: phone are not directory attributes",
        ),
        (
            "{attribute: title, values: [x]}",
            ", page_size: 0",
            "directory.page_size",
            "greater than or equal to 1",
        ),
        (
            "{attribute: title, values: [x]}",
            ", users: {base_dn: 'ou=people', filter: 'objectClass=user'}",
            "directory.users.filter",
            "should match pattern",
        ),
    ],
)
def test_bad_settings_are_named(tmp_path, assignment, extra, field, message):
    found = problems(tmp_path, config_with(assignment, extra))
    assert field in found, found
    assert message in found[field]


def test_assignment_by_groups_needs_the_group_search(tmp_path):
    text = config_with("{groups: ['cn=App,ou=groups,dc=example,dc=org']}").replace(
        "groups: {base_dn: 'ou=groups,dc=example,dc=org'}, ", ""
    )
    assert "assignment.groups needs the groups search" in problems(tmp_path, text)["directory"]
