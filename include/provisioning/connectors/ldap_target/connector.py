"""The LDAP target: the neutral connector verbs as LDAP adds, modifies, renames (modrdn), moves and
deletes of entries under the configured OUs (docs/targets/ldap.md).

An object's app id is its ``id_attribute`` (entryUUID), not its DN: a rename or a move to the
disabled OU changes the DN, never the id, so links keep working. Group members are DNs in LDAP
and app ids in the cycle: ids are resolved to DNs when members are written, DNs to ids when they
are read (a member DN that names no entry under the users' OUs is given as the DN itself, so a
full reconcile can still remove it).

When an entry's DN changes, the connector rewrites the member values of the groups under the
groups OU that held the old DN (OpenLDAP only does so itself with the refint overlay, Active
Directory always does; rewriting is harmless when the server did it first). A group that would be
left without members holds ``empty_member`` (its own DN by default), as groupOfNames requires one.

Every verb converges when repeated (the cycle may resend an action after a crash): a rename or
move that already happened only finishes the member rewrite, values already added or removed are
not sent again. A user's DN is removed from groups before the entry is deleted, so a delete whose
answer was lost leaves no member value behind (its retry finds no entry, hence no DN to follow).

The apply step calls the connector from several threads; each thread binds its own connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ldap
import ldap.filter

from provisioning.config import AppConfig
from provisioning.config.target import LdapTargetConfig
from provisioning.connectors.errors import NotFound, Rejected
from provisioning.connectors.ldap_connection import LdapEndpoint, open_bound
from provisioning.connectors.ldap_target.access import Opener, Values
from provisioning.connectors.ldap_target.entries import (
    canonical_dn,
    child_dn,
    encode,
    first_rdn,
    naming,
    parent_dn,
    rdn_value,
    read_value,
    same_dn,
    under,
)
from provisioning.connectors.ldap_target.members import MemberWrites
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import ObjectType


class LdapTargetConnector(MemberWrites):
    """The AppConnector of ``target.kind: ldap``: reads and writes of entries here, where entries
    are and how they are reached in access.py, group members in members.py."""

    throttled = 0  # LDAP servers do not ask clients to slow down

    @classmethod
    def for_app(
        cls, config: AppConfig, endpoint: LdapEndpoint, open_connection: Opener = open_bound
    ) -> LdapTargetConnector:
        assert isinstance(config.target, LdapTargetConfig)
        paths = {ObjectType.USER: [m.target for m in config.users.mappings]}
        if config.groups:
            paths[ObjectType.GROUP] = [m.target for m in config.groups.mappings]
        return cls(config.target, endpoint, paths, open_connection)

    # --- records -------------------------------------------------------------------------------

    def record(
        self, object_type: str, dn: str, values: Values, member_ids: dict[str, str] | None = None
    ) -> AppObject:
        members = None
        if object_type == ObjectType.GROUP and member_ids is not None:
            members = [member_ids.get(canonical_dn(m), m) for m in self._member_dns(dn, values)]
        return AppObject(
            id=self._id(dn, values),
            attributes={
                p: read_value(p, values.get(p.strip().lower())) for p in self._paths.get(object_type, [])
            },
            active=self._active(dn, values) if object_type == ObjectType.USER else None,
            members=members,
        )

    def _active(self, dn: str, values: Values) -> bool | None:
        """Disabled when the disable attribute holds its disabled value (or the entry is in the
        disabled OU); None when the attribute holds neither configured value (unknown: the plan
        then sends the desired state)."""
        disable = self.target.disable
        if disable.mode == "move":
            return not under(canonical_dn(dn), canonical_dn(disable.base_dn))
        held = {v.decode("utf-8", "replace").casefold() for v in values.get(disable.attribute.lower(), [])}
        if disable.disabled_value.casefold() in held:
            return False
        if disable.enabled_value is None or disable.enabled_value.casefold() in held:
            return True
        return None

    # --- reads ---------------------------------------------------------------------------------

    def list(self, object_type: str, *, members: bool = True) -> Iterator[AppObject]:
        ids = self._user_ids() if object_type == ObjectType.GROUP and members else None
        for dn, values in self._search(
            object_type, "(objectClass=*)", self._attributes(object_type, members)
        ):
            yield self.record(object_type, dn, values, ids)

    def find(self, object_type: str, path: str, value: str) -> list[AppObject]:
        name = path.strip()
        condition = f"({name}={ldap.filter.escape_filter_chars(value)})"
        found = self._search(object_type, condition, self._attributes(object_type, False), attribute=name)
        return [self.record(object_type, dn, values) for dn, values in found]

    def get(self, object_type: str, app_id: str) -> AppObject:
        dn, values = self._entry(object_type, app_id, self._attributes(object_type, True))
        ids = None
        if object_type == ObjectType.GROUP:
            ids = {canonical_dn(d): i for d, i in self._ids_of_dns(self._member_dns(dn, values)).items()}
        return self.record(object_type, dn, values, ids)

    # --- writes --------------------------------------------------------------------------------

    def create(self, object_type: str, attributes: dict[str, Any], active: bool | None) -> AppObject:
        section = self._section(object_type)
        by_name = {p.strip().lower(): (p.strip(), v) for p, v in attributes.items()}
        named = by_name.get(section.rdn_attribute.lower())
        name = encode(named[1] if named else None)
        if not name:
            raise Rejected(
                f"LDAP add not sent: no value for {section.rdn_attribute}, which names the entry",
                code="LDAP:NoRdnValue",
                permanent=True,
            )
        disable = self.target.disable
        moved = object_type == ObjectType.USER and active is False and disable.mode == "move"
        dn = child_dn(section.rdn_attribute, name[0].decode(), disable.base_dn if moved else section.base_dn)
        entry: Values = {"objectClass": [c.encode() for c in section.object_classes]}
        for text, value in by_name.values():
            if encoded := encode(value):
                entry[text] = encoded
        if object_type == ObjectType.USER and disable.mode == "attribute" and active is not None:
            state = disable.disabled_value if active is False else disable.enabled_value
            if state is not None:
                entry[disable.attribute] = [state.encode()]
        if object_type == ObjectType.GROUP:
            groups = self._groups()
            entry[groups.member_attribute] = [(groups.empty_member or dn).encode()]
        self._call(
            f"LDAP add of {dn!r}",
            lambda c: c.add_s(dn, list(entry.items())),
            missing=self._missing(parent_dn(dn)),  # an add finds no entry: its OU is missing
            entry_write=True,
        )
        found = self._call(
            f"LDAP read of {dn!r} after adding it",
            lambda c: c.search_s(
                dn, ldap.SCOPE_BASE, "(objectClass=*)", self._attributes(object_type, False)
            ),
        )
        values = {k.lower(): v for k, v in found[0][1].items()}
        return self.record(object_type, dn, values, {} if object_type == ObjectType.GROUP else None)

    def update(self, object_type: str, app_id: str, change: AttributeUpdate) -> None:
        section = self._section(object_type)
        wanted = [*change.set, *change.clear]
        dn, values = self._entry(object_type, app_id, self._attributes(object_type, False, tuple(wanted)))
        # an entry named by another attribute (adopted: cn=John Smith while rdn_attribute is uid)
        # keeps its name: its rdn_attribute is a plain value, as a rename would drop the old RDN's
        rdn = section.rdn_attribute.lower() if section.rdn_attribute.lower() in naming(dn) else None
        modlist = []
        new_name = None
        for path, value in change.set.items():
            name = path.strip()
            if name.lower() == rdn:
                new_name = encode(value)
                if not new_name:
                    raise Rejected(
                        f"LDAP update of {dn!r}: {name} names the entry and cannot be emptied", permanent=True
                    )
                continue
            modlist.append((ldap.MOD_REPLACE, name, encode(value)))
        for path in change.clear:
            name = path.strip()
            if name.lower() == rdn:
                raise Rejected(
                    f"LDAP update of {dn!r}: {name} names the entry and cannot be cleared", permanent=True
                )
            if values.get(name.lower()):
                modlist.append((ldap.MOD_DELETE, name, None))
        if modlist:
            self._call(
                f"LDAP modify of {dn!r} ({', '.join(m[1] for m in modlist)})",
                lambda c: c.modify_s(dn, modlist),
                entry_write=True,
            )
        if new_name is not None:
            dn = self._rename(dn, section.rdn_attribute, new_name[0].decode(), change.previous)
        if change.active is not None and object_type == ObjectType.USER:
            self._set_active(dn, values, change.active)

    def _rename(self, dn: str, rdn_attribute: str, value: str, previous: dict[str, Any]) -> str:
        """modrdn to the new name (the old RDN value is replaced); members follow."""
        parent = parent_dn(dn)
        new_dn = child_dn(rdn_attribute, value, parent)
        if not same_dn(dn, new_dn) or rdn_value(dn)[1] != value:
            new_rdn = first_rdn(new_dn)
            self._call(
                f"LDAP rename of {dn!r} to {new_rdn!r}",
                lambda c: c.rename_s(dn, new_rdn, None, 1),
                entry_write=True,
            )
            self._follow(dn, new_dn)
        else:  # renamed by an earlier attempt: finish what it may have left (members)
            old = next(
                (encode(v) for p, v in previous.items() if p.strip().lower() == rdn_attribute.lower()), []
            )
            if old and not same_dn(old_dn := child_dn(rdn_attribute, old[0].decode(), parent), new_dn):
                self._follow(old_dn, new_dn)
        return new_dn

    def set_active(self, object_type: str, app_id: str, active: bool) -> None:
        if object_type != ObjectType.USER:
            raise Rejected(f"LDAP {object_type}s have no enabled state", permanent=True)
        dn, values = self._entry(object_type, app_id, self._attributes(object_type, False))
        self._set_active(dn, values, active)

    def _set_active(self, dn: str, values: Values, active: bool) -> None:
        disable = self.target.disable
        if disable.mode == "move":
            target = self.target.users.base_dn if active else disable.base_dn
            other = disable.base_dn if active else self.target.users.base_dn
            first = first_rdn(dn)
            if same_dn(parent_dn(dn), target):  # moved by an earlier attempt: members may lag
                self._follow(f"{first},{other}", dn)
                return
            self._move(dn, first, target)
            self._follow(dn, f"{first},{target}")
            return
        name = disable.attribute
        held = values.get(name.lower(), [])
        state = disable.disabled_value if not active else disable.enabled_value
        if state is not None:
            if [v.decode("utf-8", "replace").casefold() for v in held] != [state.casefold()]:
                self._call(
                    f"LDAP modify of {dn!r} ({name})",
                    lambda c: c.modify_s(dn, [(ldap.MOD_REPLACE, name, [state.encode()])]),
                    entry_write=True,
                )
            return
        # enabled means "without the disabled value": other values of the attribute are kept
        flagged = [
            v for v in held if v.decode("utf-8", "replace").casefold() == disable.disabled_value.casefold()
        ]
        if flagged:
            self._call(
                f"LDAP modify of {dn!r} ({name})",
                lambda c: c.modify_s(dn, [(ldap.MOD_DELETE, name, flagged)]),
                entry_write=True,
            )

    def _move(self, dn: str, first: str, target: str) -> None:
        """modrdn to the configured OU ``target``. "No such object" names the entry or that OU: an
        OU that is missing stops the cycle (a disable must not pass for done), an entry is gone."""
        what = f"LDAP move of {dn!r} to {target!r}"
        try:
            self._call(what, lambda c: c.rename_s(dn, first, target, 1), entry_write=True)
        except NotFound:
            self._call(
                f"{what} (reading the OU)",
                lambda c: c.search_s(target, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"]),
                missing=self._missing(target),
            )
            raise

    def delete(self, object_type: str, app_id: str) -> None:
        dn, _ = self._entry(object_type, app_id, ["1.1"])
        if object_type == ObjectType.USER:
            # members first: once the entry is gone a retry (the delete's answer lost) finds no DN
            self._follow(dn, None)
        self._call(f"LDAP delete of {dn!r}", lambda c: c.delete_s(dn), entry_write=True)
