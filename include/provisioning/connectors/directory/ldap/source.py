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
from typing import Any

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
            conn.unbind_s()


class _Read:
    """One read of the directory: the entries' DNs are only needed until memberships are resolved."""

    def __init__(self, source: LdapDirectorySource, conn: LDAPObject):
        self.source = source
        self.config = source.config
        self.conn = conn
        self.once = OneCopy()
        self.user_ids: dict[str, str] = {}  # canonical DN -> id
        self.group_ids: dict[str, str] = {}
        self.unresolved: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}

    def snapshot(self, extra_users: list[str], extra_groups: list[str]) -> DirectorySnapshot:
        users, managers, assigned = self._users(extra_users)
        groups, members = self._groups(extra_groups)
        memberships = self._memberships(members)
        users["manager"] = [self._resolve(dn, self.user_ids, "manager") if dn else None for dn in managers]
        self._log_unresolved()
        return DirectorySnapshot(users, groups, memberships, self._assignments(assigned))

    def _users(self, extras: list[str]) -> tuple[pd.DataFrame, list[str | None], list[str]]:
        config = self.config
        mapped = config.user_attributes()
        disabled = config.disabled or (None if config.flavor == "active_directory" else OPENLDAP_DISABLED)
        enabled_from = disabled.attribute if disabled else "userAccountControl"
        assign_by = config.assignment.attribute
        wanted = {v.casefold() for v in config.assignment.values}
        requested = _unique([*mapped.values(), enabled_from, *extras, *([assign_by] if assign_by else [])])
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
            row: dict[str, Any] = {
                name: _first(attribute_value(ldap_name, values.get(ldap_name.lower(), [])))
                for name, ldap_name in mapped.items()
                if name != "manager"
            }
            raw_enabled = values.get(enabled_from.lower(), [])
            if disabled:
                row["accountEnabled"] = not flag_disabled(raw_enabled, disabled.values)
            else:
                row["accountEnabled"] = ad_enabled(raw_enabled)
            for name in extras:
                row[name] = attribute_value(name, values.get(name.lower(), []))
            user_id = row.get("id")
            if user_id is not None:
                self.user_ids[canonical_dn(dn)] = user_id
                if assign_by and any(text(v).casefold() in wanted for v in values.get(assign_by.lower(), [])):
                    assigned.append(user_id)
            manager = values.get(mapped["manager"].lower())
            managers.append(text(manager[0]) if manager else None)
            rows.append(self.once.row(row.get(c) for c in columns))
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
            row = {
                name: _first(attribute_value(ldap_name, values.get(ldap_name.lower(), [])))
                for name, ldap_name in mapped.items()
            }
            for name in extras:
                row[name] = attribute_value(name, values.get(name.lower(), []))
            group_id = row.get("id")
            if group_id is None:
                self._note("group without id", dn)
                continue
            row["displayName"] = str(row["displayName"]) if row.get("displayName") is not None else dn
            self.group_ids[canonical_dn(dn)] = group_id
            members.append((group_id, all_values(self.conn, dn, values, config.member_attribute)))
            rows.append(self.once.row(row.get(c) for c in columns))
        return pd.DataFrame.from_records(rows, columns=columns), members

    def _memberships(self, members: list[tuple[str, list[bytes]]]) -> pd.DataFrame:
        rows = []
        for group_id, dns in members:
            for raw in dns:
                dn = text(raw)
                key = dn.lower()
                if key not in self.user_ids and key not in self.group_ids:
                    key = canonical_dn(dn)
                if key in self.user_ids:
                    rows.append((group_id, self.user_ids[key], "user"))
                elif key in self.group_ids:
                    rows.append((group_id, self.group_ids[key], "group"))
                else:
                    self._note(self._why_unresolved(key, "member"), dn)
        return pd.DataFrame.from_records(rows, columns=["group_id", "member_id", "member_type"])

    def _assignments(self, assigned_users: list[str]) -> pd.DataFrame:
        app = self.source.app
        rows = [(app, user_id, "user") for user_id in assigned_users]
        for dn in self.config.assignment.groups:
            group_id = self.group_ids.get(canonical_dn(dn))
            if group_id is None:
                groups = self.config.groups
                assert groups is not None
                raise DirectoryError(
                    f"assignment group {dn!r} of app {app!r} is not among the groups read under "
                    f"{groups.base_dn!r} with filter {self.config.group_filter()!r}: refusing to read "
                    "the app's assignments as empty"
                )
            rows.append((app, group_id, "group"))
        return pd.DataFrame.from_records(rows, columns=["app", "principal_id", "principal_type"])

    def _resolve(self, dn: str, ids: dict[str, str], what: str) -> str | None:
        found = ids.get(dn.lower()) or ids.get(canonical_dn(dn))
        if found is None:
            self._note(self._why_unresolved(canonical_dn(dn), what), dn)
        return found

    def _why_unresolved(self, key: str, what: str) -> str:
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


def _first(value: object) -> object:
    """The documented attributes hold one value: the first, when an entry has several (mail)."""
    return value[0] if isinstance(value, list) else value


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
