"""A directory snapshot written as Active-Directory-shaped LDIF, to load into slapd (demo/slapd.py):
the same people as the SQL demo directory, so an LDAP-backed app can be compared with a SQL one,
and the LDAP benchmark reads a directory of any size.

Entries follow AD: ``user`` and ``group`` objects with a binary ``objectGUID`` (derived from the
directory id, so it is stable between builds), ``userAccountControl`` (512 enabled, 514
disabled), ``manager`` and ``member`` as DNs.
"""

from __future__ import annotations

import io
import math
import uuid
from collections import defaultdict

import ldif

from provisioning.connectors.directory.base import DirectorySnapshot
from provisioning.demo.slapd import SUFFIX

PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122's URL namespace
NORMAL_ACCOUNT, DISABLED_ACCOUNT = 512, 514


def object_guid(directory_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"directory:{directory_id}")


def user_dn(directory_id: str) -> str:
    return f"cn={directory_id},{PEOPLE}"


def group_dn(directory_id: str) -> str:
    return f"cn={directory_id},{GROUPS}"


def ad_ldif(snapshot: DirectorySnapshot) -> str:
    """Two organizational units, then every user and group of the snapshot."""
    out = io.StringIO()
    writer = ldif.LDIFWriter(out, cols=10_000)
    for ou, dn in (("people", PEOPLE), ("groups", GROUPS)):
        writer.unparse(dn, {"objectClass": [b"organizationalUnit"], "ou": [ou.encode()]})
    for user in snapshot.users.itertuples(index=False):
        entry = {
            "objectClass": [b"user"],
            "cn": [user.id],
            "sn": [user.surname or "-"],
            "objectGUID": [object_guid(user.id).bytes_le],
            "userAccountControl": [str(NORMAL_ACCOUNT if user.accountEnabled else DISABLED_ACCOUNT)],
            "sAMAccountName": [user.id],
            "userPrincipalName": [user.userPrincipalName],
            "mail": [user.mail],
            "givenName": [user.givenName],
            "displayName": [user.displayName],
            "department": [user.department],
            "title": [user.jobTitle],
            "employeeID": [user.employeeId],
            "manager": [None if _missing(user.manager) else user_dn(user.manager)],
        }
        writer.unparse(user_dn(user.id), _encoded(entry))
    members: dict[str, list[str]] = defaultdict(list)
    for group_id, member_id, member_type in snapshot.memberships.itertuples(index=False):
        members[group_id].append(user_dn(member_id) if member_type == "user" else group_dn(member_id))
    for group in snapshot.groups.itertuples(index=False):
        entry = {
            "objectClass": [b"group"],
            "cn": [group.id],
            "objectGUID": [object_guid(group.id).bytes_le],
            "displayName": [group.displayName],
            "description": [getattr(group, "description", None)],
            "member": members.get(group.id, []),
        }
        writer.unparse(group_dn(group.id), _encoded(entry))
    return out.getvalue()


def _missing(value: object) -> bool:
    """Null as the frame holds it (None or NaN), or empty."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _encoded(entry: dict[str, list]) -> dict[str, list[bytes]]:
    """LDIF of present values only: LDAP has no empty or null values."""
    found = {}
    for name, values in entry.items():
        kept = [v if isinstance(v, bytes) else str(v).encode() for v in values if not _missing(v)]
        if kept:
            found[name] = kept
    return found
