"""The LDAP target's translations that need no server: values to attribute values, ids to filters,
DNs to names, python-ldap's results to the cycle's errors."""

from __future__ import annotations

import uuid

import ldap
import pytest

from provisioning.connectors.errors import AlreadyExists, AppUnusable, NotFound, QueryRefused, Rejected
from provisioning.connectors.ldap_target.entries import (
    child_dn,
    encode,
    id_filter,
    parent_dn,
    rdn_value,
    read_id,
    read_value,
    same_dn,
)
from provisioning.connectors.ldap_target.errors import translate


def test_values_become_attribute_values():
    assert encode(None) == [] and encode("") == [] and encode([]) == []
    assert encode("Zoë") == ["Zoë".encode()]
    assert encode(["a", "", None, 3]) == [b"a", b"3"]
    assert encode(True) == [b"TRUE"] and encode(False) == [b"FALSE"]
    assert read_value("cn", [b"Ann"]) == "Ann" and read_value("cn", [b"a", b"b"]) == ["a", "b"]
    assert read_value("cn", None) is None and read_value("cn", []) is None


def test_ids_become_filters_that_cannot_be_injected():
    assert id_filter("entryUUID", "5e1c*)(uid=*") == "(entryUUID=5e1c\\2a\\29\\28uid=\\2a)"
    guid = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    assert (
        id_filter("objectGUID", str(guid))
        == "(objectGUID=" + "".join(f"\\{b:02x}" for b in guid.bytes_le) + ")"
    )
    assert id_filter("objectGUID", "not-a-guid") == "(!(objectClass=*))"
    assert read_id("objectGUID", [guid.bytes_le]) == str(guid)
    assert read_id("entryUUID", [b"5e1c"]) == "5e1c" and read_id("entryUUID", []) is None


def test_dns_are_built_escaped_and_compared_in_one_spelling():
    dn = child_dn("cn", "Smith, Ann+Co", "ou=people,dc=example,dc=org")
    assert dn == "cn=Smith\\, Ann\\+Co,ou=people,dc=example,dc=org"
    assert rdn_value(dn) == ("cn", "Smith, Ann+Co") and parent_dn(dn) == "ou=people,dc=example,dc=org"
    assert same_dn("UID=Ann, OU=People,dc=example,dc=org", "uid=ann,ou=people,dc=example,dc=org")
    assert not same_dn("uid=ann,ou=people", "uid=ann,ou=disabled") and not same_dn(None, "uid=a")


@pytest.mark.parametrize(
    ("error", "expected", "permanent", "acted"),
    [
        (ldap.ALREADY_EXISTS, AlreadyExists, False, False),
        (ldap.NO_SUCH_OBJECT, NotFound, False, False),
        (ldap.INVALID_CREDENTIALS, AppUnusable, False, False),
        (ldap.INSUFFICIENT_ACCESS, AppUnusable, False, False),
        (ldap.SERVER_DOWN, None, False, True),  # the request may have been carried out
        (ldap.CONNECT_ERROR, None, False, False),  # it never reached the server
        (ldap.OBJECT_CLASS_VIOLATION, Rejected, True, False),
        (ldap.INVALID_SYNTAX, Rejected, True, False),
    ],
)
def test_ldap_results_become_the_cycles_errors(error, expected, permanent, acted):
    found = translate(error({"desc": "Some result", "info": "detail"}), "LDAP add of 'uid=a,ou=p'")
    assert str(found) == "LDAP add of 'uid=a,ou=p': Some result (detail)"
    assert found.code == f"LDAP:{error.__name__}"
    if expected is None:
        assert found.may_have_acted is acted and not found.stops_cycle
    else:
        assert type(found) is expected and found.permanent is permanent
    assert found.stops_cycle is (expected is AppUnusable)


def test_a_filter_the_server_cannot_evaluate_is_a_refused_query():
    found = translate(
        ldap.INAPPROPRIATE_MATCHING({"desc": "Inappropriate matching"}), "LDAP search", attribute="photo"
    )
    assert isinstance(found, QueryRefused) and found.attribute == "photo"


def test_no_such_object_under_a_configured_ou_means_the_ou_is_missing():
    error = ldap.NO_SUCH_OBJECT({"desc": "No such object"})
    missing = translate(
        error,
        "LDAP search of 'ou=gone'",
        missing="the configured OU 'ou=gone' (target.disable.base_dn) does not exist",
    )
    assert type(missing) is AppUnusable and missing.code == "LDAP:MissingOU"
    assert str(missing) == (
        "LDAP search of 'ou=gone': the configured OU 'ou=gone' (target.disable.base_dn) does not exist"
    )
    assert type(translate(error, "LDAP modify of 'uid=a,ou=p'")) is NotFound  # the entry is gone


def test_missing_rights_to_write_one_entry_are_that_entrys_failure():
    error = ldap.INSUFFICIENT_ACCESS({"desc": "Insufficient access"})
    refused = translate(error, "LDAP modify of 'cn=admin,ou=p'", entry_write=True)
    assert type(refused) is Rejected and refused.permanent and not refused.stops_cycle
    assert "the bind DN may not change this entry" in str(refused)
    assert translate(error, "LDAP search of 'ou=p'").stops_cycle  # a search of the OU: every one fails
