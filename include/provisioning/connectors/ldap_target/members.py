"""Group members of the LDAP target: the cycle's member ids (entryUUIDs) written as the DNs of the
members' entries, and member values that follow an entry renamed, moved or deleted.

Every write reads the group first and sends only what changes it (a value already there is not
added again, one already gone not removed), so a repeated action converges; the one modify that
leaves a group without members puts ``empty_member`` (its own DN by default) in, as groupOfNames
requires a member. When another writer changed the group between our read and our write, the
server refuses the modify and the group is read again.
"""

from __future__ import annotations

from collections.abc import Callable

import ldap
import ldap.filter

from provisioning.connectors.errors import NotFound, Rejected
from provisioning.connectors.ldap_target.access import EntryAccess, Values
from provisioning.connectors.ldap_target.entries import (
    any_of,
    canonical_dn,
    id_filter,
    looks_like_dn,
    read_id,
    under,
)
from provisioning.engine.vocabulary import ObjectType

RESOLVE_CHUNK = 50  # ids per OR filter when member ids are resolved to DNs
MEMBER_ATTEMPTS = 3  # reads and writes of one group's members while others change it too
# what the server answers a modify that raced another writer's (a value added or removed meanwhile)
RACED = ("LDAP:TYPE_OR_VALUE_EXISTS", "LDAP:NO_SUCH_ATTRIBUTE")


class MemberWrites(EntryAccess):
    def add_members(self, group_id: str, member_ids: list[str]) -> None:
        self._members(group_id, member_ids, "add")

    def remove_members(self, group_id: str, member_ids: list[str]) -> None:
        self._members(group_id, member_ids, "remove")

    def replace_members(self, group_id: str, member_ids: list[str]) -> None:
        self._members(group_id, member_ids, "replace")

    def _members(self, group_id: str, member_ids: list[str], how: str) -> None:
        groups = self._groups()
        if groups is None:
            self._section(ObjectType.GROUP)  # raises: no groups OU configured
        dn, values = self._entry(ObjectType.GROUP, group_id, [groups.member_attribute])
        ids = [i for i in member_ids if not looks_like_dn(i)]
        dns = self._dns_of_ids(ids)
        # a member read back as a DN (it named no user entry) is removed by that DN -- unless an
        # entry has that DN by now (a user made again): its membership is then the plan's to keep
        named = [i for i in member_ids if looks_like_dn(i)]
        taken = self._ids_of_dns(named) if how == "remove" else {}
        dns.update({i: i for i in named if i not in taken})
        missing = [i for i in member_ids if i not in dns and i not in taken]
        wanted = {canonical_dn(d): d for d in dns.values()}

        def after(held: dict[str, str]) -> dict[str, str]:
            if how == "add":
                return {**held, **wanted}
            if how == "remove":
                return {k: v for k, v in held.items() if k not in wanted}
            return wanted

        self._change_members(dn, values, after)
        if missing and how != "remove":
            raise Rejected(
                f"LDAP members of {dn!r}: {len(missing)} member id(s) name no user entry "
                f"(e.g. {missing[0]}); the others were written",
                code="LDAP:UnknownMember",
            )

    def _change_members(
        self, dn: str, values: Values, after: Callable[[dict[str, str]], dict[str, str]]
    ) -> None:
        """Leave the group with ``after(its members)`` (canonical DN -> DN). When another writer
        changed the group between our read and our write (a parallel batch of the same group, the
        refint overlay following a rename), the server refuses the modify: read again, retry."""
        groups = self._groups()
        for attempt in range(MEMBER_ATTEMPTS):
            held = {canonical_dn(m): m for m in self._member_dns(dn, values)}
            try:
                self._write_members(dn, values, after(held))
                return
            except Rejected as exc:
                if exc.code not in RACED or attempt == MEMBER_ATTEMPTS - 1:
                    raise
            fresh = self._call(
                f"LDAP read of {dn!r}",
                lambda c: c.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [groups.member_attribute]),
            )
            values = {k.lower(): v for k, v in fresh[0][1].items()}

    def _write_members(self, dn: str, values: Values, after: dict[str, str]) -> None:
        """One modify that leaves the group with ``after`` (canonical -> DN), or the placeholder."""
        groups = self._groups()
        stored = [raw.decode("utf-8", "replace") for raw in values.get(groups.member_attribute.lower(), [])]
        stored_keys = {canonical_dn(s) for s in stored}
        placeholder = groups.empty_member or dn
        final = dict(after) or {canonical_dn(placeholder): placeholder}
        gone = [s.encode() for s in stored if canonical_dn(s) not in final]
        new = [d.encode() for k, d in final.items() if k not in stored_keys]
        modlist = []
        if new:
            modlist.append((ldap.MOD_ADD, groups.member_attribute, new))
        if gone:
            modlist.append((ldap.MOD_DELETE, groups.member_attribute, gone))
        if modlist:
            self._call(
                f"LDAP modify of {dn!r} ({groups.member_attribute}: {len(new)} added, {len(gone)} removed)",
                lambda c: c.modify_s(dn, modlist),
                entry_write=True,
            )

    def _dns_of_ids(self, ids: list[str]) -> dict[str, str]:
        """App id -> DN of the user entries with these ids (ids naming no entry are left out)."""
        found: dict[str, str] = {}
        attribute = self.target.id_attribute
        for start in range(0, len(ids), RESOLVE_CHUNK):
            chunk = ids[start : start + RESOLVE_CHUNK]
            condition = any_of(id_filter(attribute, i) for i in chunk)
            for dn, values in self._search(ObjectType.USER, condition, [attribute]):
                if (app_id := read_id(attribute, values.get(attribute.lower()))) is not None:
                    found[app_id] = dn
        return found

    def _ids_of_dns(self, dns: list[str]) -> dict[str, str]:
        """DN -> app id of these member DNs that name user entries (read one by one)."""
        found: dict[str, str] = {}
        users = [canonical_dn(b) for b in self._bases(ObjectType.USER)]
        attribute = self.target.id_attribute
        for dn in dns:
            if not any(under(canonical_dn(dn), base) for base in users):
                continue
            try:
                answer = self._call(
                    f"LDAP read of member {dn!r}",
                    lambda c, d=dn: c.search_s(d, ldap.SCOPE_BASE, "(objectClass=*)", [attribute]),
                )
            except NotFound:
                continue
            for entry_dn, values in answer:
                if entry_dn and (
                    app_id := read_id(
                        attribute, {k.lower(): v for k, v in values.items()}.get(attribute.lower())
                    )
                ):
                    found[dn] = app_id
        return found

    def _follow(self, old_dn: str, new_dn: str | None) -> None:
        """Groups under the groups OU that hold ``old_dn`` hold ``new_dn`` instead (None: the
        entry was deleted, its DN is removed)."""
        groups = self._groups()
        if groups is None:
            return
        condition = f"({groups.member_attribute}={ldap.filter.escape_filter_chars(old_dn)})"
        old = canonical_dn(old_dn)
        new = {} if new_dn is None else {canonical_dn(new_dn): new_dn}
        for dn, values in list(self._search(ObjectType.GROUP, condition, [groups.member_attribute])):
            self._change_members(
                dn, values, lambda held: {**{k: v for k, v in held.items() if k != old}, **new}
            )

    def _user_ids(self) -> dict[str, str]:
        """Canonical DN -> app id of every user entry, to read group members as ids."""
        return {
            canonical_dn(dn): self._id(dn, values)
            for dn, values in self._search(ObjectType.USER, "(objectClass=*)", [self.target.id_attribute])
        }
