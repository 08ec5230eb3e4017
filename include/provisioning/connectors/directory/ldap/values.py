"""LDAP values as the directory's attributes: text, ids, times, flags and DNs.

python-ldap gives every value as bytes, since only the schema knows which are text. Each
function here knows one kind of value and never raises on a bad one: a value it cannot read
is None, and the engine then treats it as missing (an unknown "enabled" is not enabled).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import ldap.dn

from provisioning.config.ldap_directory import AD_ACCOUNT_DISABLED

# attributes whose value is a binary GUID, shown in Active Directory's text form
GUID_ATTRIBUTES = frozenset({"objectguid", "msds-consistencyguid"})
TIME_ATTRIBUTES = frozenset({"modifytimestamp", "createtimestamp", "whenchanged", "whencreated"})


def text(raw: bytes) -> str:
    """UTF-8 text, as LDAP's string syntaxes are; an octet string that is not text (a photo, a
    certificate) is given as base64 rather than as mangled characters."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")


def guid_text(raw: bytes) -> str | None:
    """Active Directory's 16-byte objectGUID in the form AD tools show (its first three fields
    little-endian): the id an admin searches for. Anything but 16 bytes is no GUID."""
    if len(raw) != 16:
        return None
    return str(uuid.UUID(bytes_le=raw))


def generalized_time(raw: bytes) -> datetime | None:
    """LDAP GeneralizedTime (``20261201093000Z``, AD's ``20261201093000.0Z``) in UTC."""
    value = raw.decode("ascii", "replace").rstrip("Z")
    value = value.split(".", 1)[0].split(",", 1)[0]
    try:
        return datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def value_reader(name: str) -> Callable[[bytes], object]:
    """How one value of the attribute ``name`` is read (chosen once per attribute, not per value:
    a read of 100,000 users reads over a million values)."""
    key = name.lower()
    if key in GUID_ATTRIBUTES:
        return guid_text
    if key in TIME_ATTRIBUTES:
        return generalized_time
    return text


def attribute_value(name: str, raw: Sequence[bytes]) -> object:
    """The value of an attribute as the engine takes it: one value as such, several as a list."""
    read = value_reader(name)
    values = [read(v) for v in raw]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def ad_enabled(raw: Sequence[bytes]) -> bool | None:
    """Enabled unless userAccountControl has ACCOUNTDISABLE; no value, or no number, is unknown."""
    if len(raw) != 1:
        return None
    try:
        flags = int(raw[0])
    except ValueError:
        return None
    return not flags & AD_ACCOUNT_DISABLED


def flag_disabled(raw: Sequence[bytes], values: Sequence[str]) -> bool:
    """Plain LDAP's disabled attribute: any value of it, or one of the configured values (any case)."""
    if not values:
        return bool(raw)
    wanted = {v.casefold() for v in values}
    return any(text(v).casefold() in wanted for v in raw)


def canonical_dn(dn: str) -> str:
    """One spelling per DN, to match ``member`` and ``manager`` values with entries: attribute
    types and values lowercased (the naming attributes of users and groups compare ignoring case),
    spaces and escapes as RFC 4514 writes them. A value that is no DN is kept lowercased."""
    try:
        parsed = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        return dn.lower()
    return ldap.dn.dn2str(
        [[(kind.lower(), value.lower(), flags) for kind, value, flags in rdn] for rdn in parsed]
    )


def under(dn: str, base: str) -> bool:
    """Whether canonical ``dn`` is ``base`` or below it (both canonical)."""
    return dn == base or dn.endswith("," + base)
