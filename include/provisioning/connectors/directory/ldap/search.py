"""Reading many entries from LDAP: paged search, and Active Directory's ranged attribute values.

A directory of 100,000 users does not fit one answer: servers cap a search's size (Active
Directory's MaxPageSize is 1,000) and the paged-results control (RFC 2696) is how a client reads
past it, a page at a time, so only one page of raw entries is held. AD also caps the values of one
attribute in one answer (MaxValRange, 1,500): a group with more members answers with
``member;range=0-1499`` and the rest must be asked for range by range.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import ldap
from ldap.ldapobject import LDAPObject

from provisioning.connectors import ldap_connection
from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.directory.ldap.connection import ldap_errors
from provisioning.connectors.ldap_connection import Entry

_RANGE = re.compile(r"^(?P<name>[^;]+);range=(?P<low>\d+)-(?P<high>\d+|\*)$", re.IGNORECASE)


def paged_search(
    conn: LDAPObject, base: str, scope: str, filterstr: str, attributes: list[str], page_size: int
) -> Iterator[Entry]:
    """Every entry the search finds, page by page (ldap_connection.paged_search), as DirectoryErrors."""
    return ldap_connection.paged_search(conn, base, scope, filterstr, attributes, page_size, ldap_errors)


def all_values(conn: LDAPObject, dn: str, values: dict[str, list[bytes]], name: str) -> list[bytes]:
    """Every value of ``name`` in the entry, asking for the remaining ranges when the server gave
    a ranged answer (``member;range=0-1499``) until the range that ends in ``*``."""
    key = name.lower()
    ranged = next(((k, m) for k in values if (m := _RANGE.match(k)) and m["name"].lower() == key), None)
    if ranged is None:
        return values.get(key, [])
    found = list(values[ranged[0]])
    match = ranged[1]
    while match["high"] != "*":
        start = int(match["high"]) + 1
        with ldap_errors(f"LDAP read of {name};range={start}-* of {dn!r}"):
            answer = conn.search_ext_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [f"{name};range={start}-*"])
        attrs = next((a for d, a in answer if d is not None), {})
        ranged = next(((k, m) for k in attrs if (m := _RANGE.match(k)) and m["name"].lower() == key), None)
        if ranged is None or int(ranged[1]["low"]) != start:
            raise DirectoryError(
                f"LDAP read of {dn!r}: the server gave {name} values 0-{start - 1} in ranges, then no "
                f"range from {start}: the members cannot be read in full"
            )
        found.extend(attrs[ranged[0]])
        match = ranged[1]
    return found
