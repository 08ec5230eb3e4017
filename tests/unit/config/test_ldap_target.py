"""The ``target`` section of ``kind: ldap``: a good file loads with LDAP's defaults, and every bad
setting or mapping target is reported at its field path, naming what is wrong."""

from __future__ import annotations

import pytest

from provisioning.config import load_app_config
from provisioning.config.target import LdapTargetConfig
from provisioning.cycle.context import ObjectRules
from tests.unit.config.test_loader import problems, write

GOOD = """
directory: {conn_id: hr_db}
target:
  kind: ldap
  conn_id: corp_ldap_write
  users: {base_dn: 'ou=people,dc=example,dc=org'}
  groups: {base_dn: 'ou=groups,dc=example,dc=org'}
  disable: {mode: attribute, attribute: employeeType, disabled_value: disabled}
users:
  matching: [{target: uid}, {target: mail}]
  mappings:
    - {target: uid, source: userPrincipalName}
    - {target: cn, source: displayName}
    - {target: sn, source: surname}
    - {target: mail, source: mail}
    - {target: 'description;lang-de', value: Mitarbeiter}
groups:
  scope: all
  matching: [{target: cn}]
  mappings: [{target: cn, source: displayName}]
"""


def test_a_good_ldap_target_loads_with_ldaps_defaults(tmp_path):
    config = load_app_config(write(tmp_path, GOOD))
    target = config.target
    assert isinstance(target, LdapTargetConfig)
    assert (target.users.object_classes, target.users.rdn_attribute) == (["inetOrgPerson"], "uid")
    assert (target.groups.object_classes, target.groups.rdn_attribute) == (["groupOfNames"], "cn")
    assert target.groups.member_attribute == "member" and target.groups.empty_member is None
    assert target.id_attribute == "entryUUID"
    assert target.required_attribute("user") == ("uid", "it names the LDAP entry")
    users = ObjectRules.compile(config.users, target, "user")
    assert [r.case_sensitive for r in users.rules] == [False, False]  # uid and mail ignore case
    assert users.unique_paths == {"uid"}  # the RDN is unique under the OU
    assert {p for p, path in users.paths.items() if path.required} == {"uid", "cn", "sn"}
    assert users.paths["mail"].email and users.paths["uid"].identifier


def test_disable_by_moving_to_another_ou(tmp_path):
    text = GOOD.replace(
        "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
        "{mode: move, base_dn: 'ou=disabled,dc=example,dc=org'}",
    )
    assert load_app_config(write(tmp_path, text)).target.disable.base_dn == "ou=disabled,dc=example,dc=org"


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        (
            "{base_dn: 'ou=people,dc=example,dc=org'}",
            "{base_dn: people}",
            "target.users.base_dn",
            "is not a DN",
        ),
        (
            "{base_dn: 'ou=people,dc=example,dc=org'}",
            "{base_dn: 'ou=people,dc=example,dc=org', rdn_attribute: 'u id'}",
            "target.users.rdn_attribute",
            "not an LDAP attribute or object class name",
        ),
        (
            "{base_dn: 'ou=people,dc=example,dc=org'}",
            "{base_dn: 'ou=people,dc=example,dc=org', rdn_attribute: entryUUID}",
            "target.users.rdn_attribute",
            "cannot name entries",
        ),
        (
            "{base_dn: 'ou=groups,dc=example,dc=org'}",
            "{base_dn: 'ou=groups,dc=example,dc=org', object_classes: []}",
            "target.groups.object_classes",
            "at least 1 item",
        ),
        (
            "{base_dn: 'ou=groups,dc=example,dc=org'}",
            "{base_dn: 'ou=groups,dc=example,dc=org', empty_member: nobody}",
            "target.groups.empty_member",
            "'nobody' is not a DN",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: attribute}",
            "target.disable",
            "mode attribute needs 'attribute'",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: move}",
            "target.disable",
            "mode move needs 'base_dn'",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: freeze, attribute: employeeType}",
            "target.disable.mode",
            "'attribute' or 'move'",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: attribute, attribute: 'employee type'}",
            "target.disable.attribute",
            "is not an LDAP attribute name",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: attribute, attribute: uid}",
            "target",
            "disable.attribute is users.rdn_attribute",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: move, base_dn: 'OU=People,dc=example,dc=org'}",
            "target.disable.base_dn",
            "disable.base_dn is users.base_dn",
        ),
        (  # the same DN spelled with other spaces and case
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: move, base_dn: 'OU=People, DC=example, dc=org'}",
            "target.disable.base_dn",
            "disable.base_dn is users.base_dn",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: move, base_dn: 'ou=disabled, ou=People,dc=example,dc=org'}",
            "target.disable.base_dn",
            "disable.base_dn is under users.base_dn",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: move, base_dn: 'dc=example, dc=org'}",
            "target.disable.base_dn",
            "users.base_dn is under disable.base_dn",
        ),
        (
            "{mode: attribute, attribute: employeeType, disabled_value: disabled}",
            "{mode: attribute, attribute: employeeType, disabled_value: x, enabled_value: X}",
            "target.disable",
            "enabled_value and disabled_value must differ",
        ),
    ],
)
def test_a_bad_setting_is_reported_at_its_field(tmp_path, old, new, field, message):
    assert old in GOOD
    found = dict(problems(write(tmp_path, GOOD.replace(old, new, 1))))
    assert field in found, found
    assert message in found[field]


def test_a_missing_disable_is_named(tmp_path):
    text = GOOD.replace(
        "  disable: {mode: attribute, attribute: employeeType, disabled_value: disabled}\n", ""
    )
    assert "target.disable" in dict(problems(write(tmp_path, text)))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("'emails[type eq \"work\"].value'", "is not an LDAP attribute name"),
        ("objectClass", "kept by the LDAP server or by the provisioning itself"),
        ("member", "kept by the LDAP server or by the provisioning itself"),
        ("entryUUID", "kept by the LDAP server or by the provisioning itself"),
    ],
)
def test_a_mapping_target_must_be_a_writable_ldap_attribute(tmp_path, target, message):
    text = GOOD.replace(
        "{target: 'description;lang-de', value: Mitarbeiter}", f"{{target: {target}, value: x}}"
    )
    found = dict(problems(write(tmp_path, text)))
    assert message in found["users.mappings[4].target"]


def test_the_rdn_attribute_must_be_mapped(tmp_path):
    text = GOOD.replace(
        "{base_dn: 'ou=people,dc=example,dc=org'}",
        "{base_dn: 'ou=people,dc=example,dc=org', rdn_attribute: cn}",
    )
    text = text.replace("    - {target: cn, source: displayName}\n", "", 1)
    found = dict(problems(write(tmp_path, text)))
    assert found["users.mappings"] == "a mapping to 'cn' is required (it names the LDAP entry)"


def test_an_app_that_provisions_groups_needs_the_groups_ou(tmp_path):
    text = GOOD.replace("  groups: {base_dn: 'ou=groups,dc=example,dc=org'}\n", "")
    found = dict(problems(write(tmp_path, text)))
    assert found == {
        "target.groups": "the app provisions groups (its groups section): set target.groups.base_dn, "
        "the OU they are written to"
    }
    without_groups = text[: text.index("groups:\n  scope: all")]
    assert load_app_config(write(tmp_path, without_groups)).target.groups is None


def test_the_id_attribute_must_be_an_attribute_name(tmp_path):
    text = GOOD.replace("  kind: ldap\n", "  kind: ldap\n  id_attribute: 'object guid'\n")
    assert (
        "not an LDAP attribute or object class name"
        in dict(problems(write(tmp_path, text)))["target.id_attribute"]
    )
    text = GOOD.replace("  kind: ldap\n", "  kind: ldap\n  id_attribute: objectGUID\n")
    assert load_app_config(write(tmp_path, text)).target.id_attribute == "objectGUID"


def test_entries_are_searched_by_every_listed_object_class(tmp_path):
    text = GOOD.replace(
        "{base_dn: 'ou=people,dc=example,dc=org'}",
        "{base_dn: 'ou=people,dc=example,dc=org', "
        "object_classes: [top, person, organizationalPerson, inetOrgPerson]}",
    )
    target = load_app_config(write(tmp_path, text)).target
    assert target.users.structural_filter == (
        "(&(objectClass=top)(objectClass=person)(objectClass=organizationalPerson)"
        "(objectClass=inetOrgPerson))"
    )
    assert target.groups.structural_filter == "(objectClass=groupOfNames)"
