"""How LDAP values become directory attributes, and Active Directory's ranged member values.

Ranged values (``member;range=0-1499``) are sent only by Active Directory, which cannot run here
(demo/slapd.py says why): ``RangedDirectory`` answers as AD documents it, and is the one stand-in
of the LDAP tests; everything else runs against a real slapd (tests/integration/test_ldap_source.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import ldap
import pytest

from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.directory.ldap.search import all_values
from provisioning.connectors.directory.ldap.values import (
    ad_enabled,
    attribute_value,
    canonical_dn,
    flag_disabled,
    generalized_time,
    guid_text,
)

GROUP = "cn=All Staff,ou=groups,dc=corp,dc=example"
MAX_VAL_RANGE = 1500  # AD's default MaxValRange


class RangedDirectory:
    """Answers a base read of ``member;range=N-*`` as AD does: the next 1,500 values, the last
    range ending in ``*``. ``gap`` skips values to play a server that loses its place."""

    def __init__(self, members: list[bytes], gap: int = 0):
        self.members = members
        self.gap = gap
        self.asked: list[str] = []

    def first_answer(self) -> dict[str, list[bytes]]:
        return self._range(0)

    def search_ext_s(self, dn, scope, filterstr, attributes):
        assert (dn, scope) == (GROUP, ldap.SCOPE_BASE)
        self.asked.append(attributes[0])
        start = int(attributes[0].split("=")[1].split("-")[0]) + self.gap
        return [(dn, self._range(start))]

    def _range(self, start: int) -> dict[str, list[bytes]]:
        chunk = self.members[start : start + MAX_VAL_RANGE]
        end = "*" if start + MAX_VAL_RANGE >= len(self.members) else str(start + MAX_VAL_RANGE - 1)
        return {f"member;range={start}-{end}": chunk}


def test_a_large_group_is_read_range_by_range():
    members = [f"cn=user{i},ou=people,dc=corp,dc=example".encode() for i in range(4000)]
    server = RangedDirectory(members)
    assert all_values(server, GROUP, server.first_answer(), "member") == members
    assert server.asked == ["member;range=1500-*", "member;range=3000-*"]


def test_a_range_that_does_not_follow_on_is_refused_not_truncated():
    server = RangedDirectory([f"cn=u{i}".encode() for i in range(4000)], gap=10)
    with pytest.raises(DirectoryError, match=r"gave member values 0-1499 in ranges, then no range from 1500"):
        all_values(server, GROUP, server.first_answer(), "member")


def test_a_group_within_one_range_needs_no_more_reads():
    server = RangedDirectory([b"cn=a", b"cn=b"])
    assert all_values(server, GROUP, {"member": [b"cn=a", b"cn=b"]}, "member") == [b"cn=a", b"cn=b"]
    assert server.asked == []


def test_values():
    guid = uuid.UUID("{6f9619ff-8b86-d011-b42d-00cf4fc964ff}")
    assert guid_text(guid.bytes_le) == "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    assert guid_text(b"short") is None
    assert attribute_value("objectGUID", [guid.bytes_le]) == str(guid)
    assert generalized_time(b"20261201093000.0Z") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert generalized_time(b"yesterday") is None
    assert attribute_value("mail", [b"a@x.example", b"b@x.example"]) == ["a@x.example", "b@x.example"]
    assert attribute_value("jpegPhoto", [b"\xff\xd8\xff"]) == "/9j/"  # not text: base64
    assert attribute_value("title", []) is None


def test_enabled_flags_fail_closed():
    assert ad_enabled([b"512"]) is True
    assert ad_enabled([b"514"]) is False
    assert ad_enabled([b"66050"]) is False  # disabled, password never expires
    assert ad_enabled([]) is None and ad_enabled([b"n/a"]) is None
    assert flag_disabled([b"20261201000000Z"], []) is True
    assert flag_disabled([], []) is False
    assert flag_disabled([b"Terminated"], ["terminated", "disabled"]) is True
    assert flag_disabled([b"staff"], ["terminated"]) is False


def test_dns_compare_as_ldap_compares_them():
    assert canonical_dn("CN=Ann Lee , OU=People,DC=Example") == canonical_dn(
        "cn=ann lee,ou=people,dc=example"
    )
    assert canonical_dn(r"cn=Lee\, Ann,ou=people") == r"cn=lee\, ann,ou=people"
    assert canonical_dn("not a dn") == "not a dn"
