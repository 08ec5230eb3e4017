"""Values and names in LDAP's terms: what the engine plans becomes attribute values (bytes), an
entry's values become flat ``path -> value`` records, ids become search filters, DNs are compared
in one spelling.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import ldap.dn
import ldap.filter

from provisioning.connectors.directory.ldap.values import (
    GUID_ATTRIBUTES,
    attribute_value,
    canonical_dn,
    guid_text,
)


def encode(value: Any) -> list[bytes]:
    """The values of one attribute: none for an empty value, one per item of a list; booleans as
    LDAP's Boolean syntax writes them (TRUE/FALSE), everything else as UTF-8 text."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [one for item in value for one in encode(item)]
    if isinstance(value, bool):
        return [b"TRUE" if value else b"FALSE"]
    return [str(value).encode("utf-8")]


def read_value(name: str, raw: list[bytes] | None) -> Any:
    """One attribute as the engine compares it: None, one text, or a list of texts."""
    return attribute_value(name, raw) if raw else None


def read_id(id_attribute: str, raw: list[bytes] | None) -> str | None:
    """The entry's app id: entryUUID as text, AD's binary objectGUID in its usual text form."""
    if not raw:
        return None
    if id_attribute.lower() in GUID_ATTRIBUTES:
        return guid_text(raw[0])
    return raw[0].decode("utf-8", "replace")


def id_filter(id_attribute: str, app_id: str) -> str:
    """An equality filter on the id attribute (a binary GUID as escaped bytes)."""
    if id_attribute.lower() in GUID_ATTRIBUTES:
        try:
            raw = uuid.UUID(app_id).bytes_le
        except ValueError:
            return "(!(objectClass=*))"  # no GUID: matches nothing, as a malformed id should
        escaped = "".join("\\%02x" % b for b in raw)  # noqa: UP031 (a backslash per byte)
        return f"({id_attribute}={escaped})"
    return f"({id_attribute}={ldap.filter.escape_filter_chars(app_id)})"


def any_of(filters: Iterable[str]) -> str:
    items = list(filters)
    return items[0] if len(items) == 1 else f"(|{''.join(items)})"


def child_dn(rdn_attribute: str, value: str, parent: str) -> str:
    """The DN of an entry named ``rdn_attribute=value`` under ``parent`` (value escaped)."""
    return f"{rdn_attribute}={ldap.dn.escape_dn_chars(value)},{parent}"


def rdn_value(dn: str) -> tuple[str, str]:
    """The (attribute, value) of a DN's first RDN."""
    first = ldap.dn.str2dn(dn)[0][0]
    return first[0], first[1]


def naming(dn: str) -> set[str]:
    """The lowercased attributes of a DN's first RDN (``cn`` for ``cn=John Smith,ou=people``)."""
    return {kind.lower() for kind, _, _ in ldap.dn.str2dn(dn)[0]}


def parent_dn(dn: str) -> str:
    return ldap.dn.dn2str(ldap.dn.str2dn(dn)[1:])


def same_dn(one: str | None, other: str | None) -> bool:
    return one is not None and other is not None and canonical_dn(one) == canonical_dn(other)


def under(dn: str, base: str) -> bool:
    """Whether canonical ``dn`` is ``base`` or below it (both canonical)."""
    return dn == base or dn.endswith("," + base)


def first_rdn(dn: str) -> str:
    """A DN's first RDN, as modrdn takes it (``uid=ann``)."""
    return ldap.dn.dn2str(ldap.dn.str2dn(dn)[:1])


def looks_like_dn(value: str) -> bool:
    """Whether a member id is a DN (a member value that named no entry) rather than an entryUUID."""
    return "=" in value
