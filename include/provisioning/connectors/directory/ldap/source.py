"""The LDAP / Active Directory source: users, groups, memberships and the app's assignments from
one bind and paged searches (docs/sources/ldap.md says how entries become directory attributes).

Memberships are the groups' ``member`` DNs, matched to the entries read: a DN that is a user is a
user membership, one that is a group a nested group (the engine expands nesting to any depth,
cycles included). A member DN outside the searched bases, or naming no entry the searches found,
is logged and left out: one stale DN in one group must not stop every app's provisioning. An
assignment group that is not found stops the read instead: nobody would be assigned, and every
account would look like a leaver.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import ldap
import pandas as pd
from ldap.ldapobject import LDAPObject

from provisioning.config.directory_section import DirectorySection
from provisioning.config.ldap_directory import LdapDirectoryConfig, LdapDisabled
from provisioning.connectors.directory.base import DirectoryError, DirectorySnapshot
from provisioning.connectors.directory.ldap.connection import LdapEndpoint, connect, endpoint_of
from provisioning.connectors.directory.ldap.search import all_values, paged_search
from provisioning.connectors.directory.ldap.values import (
    ad_enabled,
    attribute_value,
    canonical_dn,
    flag_disabled,
    text,
    under,
    value_reader,
)
from provisioning.engine.directory_model import USER_ATTRIBUTES
from provisioning.engine.strings import OneCopy

log = logging.getLogger(__name__)

# plain LDAP's default: the ppolicy overlay's lock (absent on servers without it: all enabled)
OPENLDAP_DISABLED = LdapDisabled(attribute="pwdAccountLockedTime")
SAMPLES = 5  # DNs named per kind of problem in the log


def open_ldap_directory(section: DirectorySection, get_connection: Any, app: str) -> LdapDirectorySource:
    """The registry's factory: the section says what to read, the connection where and as whom."""
    assert isinstance(section, LdapDirectoryConfig)
    return LdapDirectorySource(section, endpoint_of(get_connection(section.conn_id), section.conn_id), app)


class LdapDirectorySource:
    min_users_ratio = None  # a directory's size may swing (directory/base.py)

    def __init__(
        self, config: LdapDirectoryConfig, endpoint: LdapEndpoint, app: str, open_connection=connect
    ):
        self.config = config
        self.endpoint = endpoint
        self.app = app
        self._open = open_connection
        groups = f"groups under {config.groups.base_dn!r}" if config.groups else "groups (not read)"
        assignment = config.assignment
        self.relations = {
            "users": f"users under {config.users.base_dn!r}",
            "groups": groups,
            "group_members": f"{config.member_attribute} of {groups}",
            "app_assignments": f"members of {', '.join(assignment.groups)}"
            if assignment.groups
            else f"users whose {assignment.attribute} is {' or '.join(assignment.values)}",
        }

    def read(
        self, extra_user_attributes: Sequence[str] = (), extra_group_attributes: Sequence[str] = ()
    ) -> DirectorySnapshot:
        conn = self._open(self.endpoint, self.config.timeout_seconds)
        try:
            return _Read(self, conn).snapshot(list(extra_user_attributes), list(extra_group_attributes))
        finally:
            with suppress(ldap.LDAPError):  # a lost connection must not hide the read's own error
                conn.unbind_s()


class _Read:
    """One read of the directory: the entries' DNs are only needed until memberships are resolved."""

    def __init__(self, source: LdapDirectorySource, conn: LDAPObject):
        self.source = source
        self.config = source.config
        self.conn = conn
        self.once = OneCopy()
        self.entries = DnIndex()  # every user and group read
        self.unresolved: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}

    def snapshot(self, extra_users: list[str], extra_groups: list[str]) -> DirectorySnapshot:
        users, managers, assigned = self._users(extra_users)
        groups, members = self._groups(extra_groups)
        memberships = self._memberships(members)
        users["manager"] = [self._manager(dn) if dn else None for dn in managers]
        self._log_unresolved()
        return DirectorySnapshot(users, groups, memberships, self._assignments(assigned))

    def _users(self, extras: list[str]) -> tuple[pd.DataFrame, list[str | None], list[str]]:
        config = self.config
        mapped = config.user_attributes()
        disabled = config.disabled or (None if config.flavor == "active_directory" else OPENLDAP_DISABLED)
        enabled_from = (disabled.attribute if disabled else "userAccountControl").lower()
        assign_by = (config.assignment.attribute or "").lower()
        wanted = {v.casefold() for v in config.assignment.values}
        requested = _unique([*mapped.values(), enabled_from, *extras, *([assign_by] if assign_by else [])])
        # (column, LDAP attribute, reader of its first value), in the frame's column order
        firsts = [
            (name, mapped[name].lower(), value_reader(mapped[name]))
            for name in USER_ATTRIBUTES
            if name in mapped and name != "manager"
        ]
        manager_from = mapped["manager"].lower()
        columns = [*USER_ATTRIBUTES, *extras]
        rows, managers, assigned = [], [], []
        for dn, values in paged_search(
            self.conn,
            config.users.base_dn,
            config.users.scope,
            config.user_filter(),
            requested,
            config.page_size,
        ):
            row: dict[str, Any] = {}
            for name, attribute, read in firsts:
                found = values.get(attribute)
                row[name] = read(found[0]) if found else None
            raw_enabled = values.get(enabled_from, [])
            if disabled:
                row["accountEnabled"] = not flag_disabled(raw_enabled, disabled.values)
            else:
                row["accountEnabled"] = ad_enabled(raw_enabled)
            for name in extras:
                row[name] = attribute_value(name, values.get(name.lower(), []))
            manager = values.get(manager_from)
            row["manager"] = None  # the manager's id, once every user's DN is known
            managers.append(text(manager[0]) if manager else None)
            user_id = row["id"]
            if user_id is not None:
                self.entries.add(dn, (user_id, "user"))
                if assign_by and any(text(v).casefold() in wanted for v in values.get(assign_by, [])):
                    assigned.append(user_id)
            rows.append(self.once.row([row.get(c) for c in columns]))
        return pd.DataFrame.from_records(rows, columns=columns), managers, assigned

    def _groups(self, extras: list[str]) -> tuple[pd.DataFrame, list[tuple[str, list[bytes]]]]:
        columns = ["id", "displayName", "description", "updatedAt", *extras]
        config = self.config
        if config.groups is None:
            return pd.DataFrame(columns=columns), []
        mapped = config.group_attribute_map()
        requested = _unique([*mapped.values(), config.member_attribute, *extras])
        rows, members = [], []
        for dn, values in paged_search(
            self.conn,
            config.groups.base_dn,
            config.groups.scope,
            config.group_filter(),
            requested,
            config.page_size,
        ):
            row = {}
            for name, ldap_name in mapped.items():
                found = values.get(ldap_name.lower())
                row[name] = value_reader(ldap_name)(found[0]) if found else None
            for name in extras:
                row[name] = attribute_value(name, values.get(name.lower(), []))
            group_id = row.get("id")
            if group_id is None:
                self._note("group without id", dn)
                continue
            row["displayName"] = str(row["displayName"]) if row.get("displayName") is not None else dn
            self.entries.add(dn, (group_id, "group"))
            members.append((group_id, all_values(self.conn, dn, values, config.member_attribute)))
            rows.append(self.once.row(row.get(c) for c in columns))
        return pd.DataFrame.from_records(rows, columns=columns), members

    def _memberships(self, members: list[tuple[str, list[bytes]]]) -> pd.DataFrame:
        rows = []
        for group_id, dns in members:
            for raw in dns:
                dn = text(raw)
                member = self.entries.get(dn)
                if member is None:
                    self._note(self._why_unresolved(dn, "member"), dn)
                else:
                    rows.append((group_id, *member))
        return pd.DataFrame.from_records(rows, columns=["group_id", "member_id", "member_type"])

    def _assignments(self, assigned_users: list[str]) -> pd.DataFrame:
        app = self.source.app
        rows = [(app, user_id, "user") for user_id in assigned_users]
        for dn in self.config.assignment.groups:
            found = self.entries.get(dn)
            if found is None or found[1] != "group":
                groups = self.config.groups
                assert groups is not None
                raise DirectoryError(
                    f"assignment group {dn!r} of app {app!r} is not among the groups read under "
                    f"{groups.base_dn!r} with filter {self.config.group_filter()!r}: refusing to read "
                    "the app's assignments as empty"
                )
            rows.append((app, found[0], "group"))
        return pd.DataFrame.from_records(rows, columns=["app", "principal_id", "principal_type"])

    def _manager(self, dn: str) -> str | None:
        found = self.entries.get(dn)
        if found is None or found[1] != "user":
            self._note(self._why_unresolved(dn, "manager"), dn)
            return None
        return found[0]

    def _why_unresolved(self, dn: str, what: str) -> str:
        key = canonical_dn(dn)
        config = self.config
        bases = [canonical_dn(config.users.base_dn)]
        if config.groups:
            bases.append(canonical_dn(config.groups.base_dn))
        if any(under(key, base) for base in bases):
            return f"{what} naming no entry the searches found"
        return f"{what} outside the searched bases"

    def _note(self, problem: str, dn: str) -> None:
        self.unresolved[problem] += 1
        samples = self.samples.setdefault(problem, [])
        if len(samples) < SAMPLES:
            samples.append(dn)

    def _log_unresolved(self) -> None:
        """Left out, not fatal: what a directory admin needs to find and mend the entries."""
        for problem, count in sorted(self.unresolved.items()):
            log.warning(
                "LDAP source: %d %s DN(s) left out, e.g. %s", count, problem, "; ".join(self.samples[problem])
            )


Entry = tuple[str, str]  # id, "user" or "group"


class DnIndex:
    """Entries (id and kind) by DN, found the way LDAP compares DNs (canonical_dn). Servers give
    entries' DNs and the DNs they store in ``member`` in one spelling, so a lowercased DN nearly
    always finds its entry at once; only a DN that does not is canonicalized, against an index of
    canonical DNs built on that first miss (canonicalizing every DN was a sixth of a 100,000-user
    read)."""

    def __init__(self) -> None:
        self._by_lower: dict[str, Entry] = {}
        self._by_canonical: dict[str, Entry] | None = None

    def add(self, dn: str, entry: Entry) -> None:
        self._by_lower[dn.lower()] = entry

    def get(self, dn: str) -> Entry | None:
        found = self._by_lower.get(dn.lower())
        if found is None:
            if self._by_canonical is None:
                self._by_canonical = {canonical_dn(k): v for k, v in self._by_lower.items()}
            found = self._by_canonical.get(canonical_dn(dn))
        return found


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
