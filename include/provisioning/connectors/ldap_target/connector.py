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
not sent again.

The apply step calls the connector from several threads; each thread binds its own connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import ldap
import ldap.dn
import ldap.filter
from ldap.ldapobject import LDAPObject

from provisioning.config import AppConfig
from provisioning.config.ldap_target import LdapEntries, LdapGroups
from provisioning.config.target import LdapTargetConfig
from provisioning.connectors.errors import AppUnusable, NotFound, Rejected, TransientError
from provisioning.connectors.ldap_connection import LdapEndpoint, open_bound, paged_search
from provisioning.connectors.ldap_target.entries import (
    any_of,
    canonical_dn,
    child_dn,
    encode,
    id_filter,
    parent_dn,
    rdn_value,
    read_id,
    read_value,
    same_dn,
)
from provisioning.connectors.ldap_target.errors import ldap_request
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import ObjectType

RESOLVE_CHUNK = 50  # ids per OR filter when member ids are resolved to DNs
MEMBER_ATTEMPTS = 3  # reads and writes of one group's members while others change it too
# what the server answers a modify that raced another writer's (a value added or removed meanwhile)
RACED = ("LDAP:TYPE_OR_VALUE_EXISTS", "LDAP:NO_SUCH_ATTRIBUTE")
Values = dict[str, list[bytes]]  # lowercased attribute name -> raw values


class LdapTargetConnector:
    """``paths``: object type -> the mapped attribute names as the config writes them."""

    throttled = 0  # LDAP servers do not ask clients to slow down

    def __init__(
        self,
        target: LdapTargetConfig,
        endpoint: LdapEndpoint,
        paths: dict[str, list[str]],
        open_connection=open_bound,
    ):
        self.target = target
        self.server = endpoint
        self.endpoint = endpoint.uri  # entryUUIDs are the server's: links are bound to it
        self._paths = {kind: list(texts) for kind, texts in paths.items()}
        self._open = open_connection
        self._local = threading.local()
        self._opened: list[LDAPObject] = []
        self._lock = threading.Lock()

    @classmethod
    def for_app(
        cls, config: AppConfig, endpoint: LdapEndpoint, open_connection=open_bound
    ) -> LdapTargetConnector:
        assert isinstance(config.target, LdapTargetConfig)
        paths = {ObjectType.USER: [m.target for m in config.users.mappings]}
        if config.groups:
            paths[ObjectType.GROUP] = [m.target for m in config.groups.mappings]
        return cls(config.target, endpoint, paths, open_connection)

    # --- connections ---------------------------------------------------------------------------

    def _conn(self) -> LDAPObject:
        """This thread's bound connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with ldap_request(f"cannot bind to LDAP at {self.server.describe()}"):
                conn = self._open(self.server, self.target.timeout_seconds)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with suppress(ldap.LDAPError):
                conn.unbind_s()
        self._local = threading.local()

    def __enter__(self) -> LdapTargetConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, request, *, attribute: str | None = None) -> Any:
        """One request on this thread's connection."""
        conn = self._conn()
        with self._dropped_when_lost(), ldap_request(what, attribute=attribute):
            return request(conn)

    @contextmanager
    def _dropped_when_lost(self) -> Iterator[None]:
        """A connection the server dropped is forgotten, so the next request (a retry) binds afresh."""
        try:
            yield
        except TransientError:
            self._local.conn = None
            raise

    # --- where entries are ---------------------------------------------------------------------

    def _section(self, object_type: str) -> LdapEntries:
        try:
            return self.target.entries(object_type)
        except ValueError as exc:
            raise Rejected(str(exc), code="LDAP:NoGroupsOU", permanent=True) from None

    def _groups(self) -> LdapGroups | None:
        return self.target.groups

    def _bases(self, object_type: str) -> list[str]:
        """The OUs entries of this type are searched under: users also in the disabled OU."""
        bases = [self._section(object_type).base_dn]
        disable = self.target.disable
        if object_type == ObjectType.USER and disable.mode == "move":
            moved = canonical_dn(disable.base_dn)
            if not _under(moved, canonical_dn(bases[0])):
                bases.append(disable.base_dn)
        return bases

    def _attributes(self, object_type: str, members: bool, extra: tuple[str, ...] = ()) -> list[str]:
        wanted = [self.target.id_attribute, *self._paths.get(object_type, []), *extra]
        if object_type == ObjectType.USER and self.target.disable.attribute:
            wanted.append(self.target.disable.attribute)
        if object_type == ObjectType.GROUP and members:
            wanted.append(self._groups().member_attribute)
        return list(dict.fromkeys(wanted))

    def _search(
        self, object_type: str, condition: str, attributes: list[str], *, attribute: str | None = None
    ):
        """Entries of this type (by its structural class) under its OUs that meet ``condition``."""
        section = self._section(object_type)
        filterstr = f"(&{section.structural_filter}{condition})"
        seen: set[str] = set()
        for base in self._bases(object_type):
            found = paged_search(
                self._conn(),
                base,
                "subtree",
                filterstr,
                attributes,
                self.target.page_size,
                lambda what: ldap_request(what, attribute=attribute),
            )
            with self._dropped_when_lost():
                for dn, values in found:
                    key = canonical_dn(dn)
                    if key not in seen:
                        seen.add(key)
                        yield dn, values

    def _entry(self, object_type: str, app_id: str, attributes: list[str]) -> tuple[str, Values]:
        """The DN and values of the entry with this id; NotFound when there is none."""
        found = list(self._search(object_type, id_filter(self.target.id_attribute, app_id), attributes))
        if not found:
            raise NotFound(f"no LDAP {object_type} entry with {self.target.id_attribute} {app_id}")
        if len(found) > 1:
            raise Rejected(
                f"{len(found)} LDAP entries have {self.target.id_attribute} {app_id}", permanent=True
            )
        return found[0]

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

    def _id(self, dn: str, values: Values) -> str:
        """The entry's app id; an entry without one means the id attribute is wrong for this
        server (or unreadable for the bind DN): every object would be, so the cycle stops."""
        app_id = read_id(self.target.id_attribute, values.get(self.target.id_attribute.lower()))
        if app_id is None:
            raise AppUnusable(
                f"LDAP entry {dn!r} has no {self.target.id_attribute} (target.id_attribute): the server "
                "does not keep it, or the bind DN may not read it",
                code="LDAP:NoId",
            )
        return app_id

    def _active(self, dn: str, values: Values) -> bool | None:
        """Disabled when the disable attribute holds its disabled value (or the entry is in the
        disabled OU); None when the attribute holds neither configured value (unknown: the plan
        then sends the desired state)."""
        disable = self.target.disable
        if disable.mode == "move":
            return not _under(canonical_dn(dn), canonical_dn(disable.base_dn))
        held = {v.decode("utf-8", "replace").casefold() for v in values.get(disable.attribute.lower(), [])}
        if disable.disabled_value.casefold() in held:
            return False
        if disable.enabled_value is None or disable.enabled_value.casefold() in held:
            return True
        return None

    def _member_dns(self, group_dn: str, values: Values) -> list[str]:
        """The group's member DNs, without the placeholder an empty group holds."""
        groups = self._groups()
        placeholder = canonical_dn(groups.empty_member or group_dn)
        return [
            text
            for raw in values.get(groups.member_attribute.lower(), [])
            if canonical_dn(text := raw.decode("utf-8", "replace")) != placeholder
        ]

    def _user_ids(self) -> dict[str, str]:
        """Canonical DN -> app id of every user entry, to read group members as ids."""
        return {
            canonical_dn(dn): self._id(dn, values)
            for dn, values in self._search(ObjectType.USER, "(objectClass=*)", [self.target.id_attribute])
        }

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
        self._call(f"LDAP add of {dn!r}", lambda c: c.add_s(dn, list(entry.items())))
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
        rdn = section.rdn_attribute.lower()
        wanted = [*change.set, *change.clear]
        dn, values = self._entry(object_type, app_id, self._attributes(object_type, False, tuple(wanted)))
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
            new_rdn = _first_rdn(new_dn)
            self._call(f"LDAP rename of {dn!r} to {new_rdn!r}", lambda c: c.rename_s(dn, new_rdn, None, 1))
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
            first = _first_rdn(dn)
            if same_dn(parent_dn(dn), target):  # moved by an earlier attempt: members may lag
                self._follow(f"{first},{other}", dn)
                return
            self._call(f"LDAP move of {dn!r} to {target!r}", lambda c: c.rename_s(dn, first, target, 1))
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
            )

    def delete(self, object_type: str, app_id: str) -> None:
        dn, _ = self._entry(object_type, app_id, ["1.1"])
        self._call(f"LDAP delete of {dn!r}", lambda c: c.delete_s(dn))
        if object_type == ObjectType.USER:
            self._follow(dn, None)

    # --- members -------------------------------------------------------------------------------

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
        ids = [i for i in member_ids if not _looks_like_dn(i)]
        dns = self._dns_of_ids(ids)
        # a member read back as a DN (it named no user entry) is removed by that DN -- unless an
        # entry has that DN by now (a user made again): its membership is then the plan's to keep
        named = [i for i in member_ids if _looks_like_dn(i)]
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
            if not any(_under(canonical_dn(dn), base) for base in users):
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


def _under(dn: str, base: str) -> bool:
    """Whether canonical ``dn`` is ``base`` or below it (both canonical)."""
    return dn == base or dn.endswith("," + base)


def _first_rdn(dn: str) -> str:
    return ldap.dn.dn2str(ldap.dn.str2dn(dn)[:1])


def _looks_like_dn(value: str) -> bool:
    return "=" in value
