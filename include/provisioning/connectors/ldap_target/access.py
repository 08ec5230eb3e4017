"""Where the LDAP target's entries are and how it reaches them: one bound connection per thread
(apply calls the connector from several), searches of an object type's OUs by its structural
class, an entry found by its id, and the values every verb reads (the id, group members).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Self

import ldap
import ldap.dn
from ldap.ldapobject import LDAPObject

from provisioning.config.ldap_target import LdapEntries, LdapGroups
from provisioning.config.target import LdapTargetConfig
from provisioning.connectors.errors import AppUnusable, NotFound, Rejected, TransientError
from provisioning.connectors.ldap_connection import Entry, LdapEndpoint, open_bound, paged_search
from provisioning.connectors.ldap_target.entries import canonical_dn, id_filter, read_id, under
from provisioning.connectors.ldap_target.errors import ldap_request, missing_ou
from provisioning.engine.vocabulary import ObjectType

Values = dict[str, list[bytes]]  # lowercased attribute name -> raw values
Opener = Callable[[LdapEndpoint, float], LDAPObject]


class EntryAccess:
    """``paths``: object type -> the mapped attribute names as the config writes them."""

    def __init__(
        self,
        target: LdapTargetConfig,
        endpoint: LdapEndpoint,
        paths: dict[str, list[str]],
        open_connection: Opener = open_bound,
    ):
        self.target = target
        self.server = endpoint
        self.endpoint = endpoint.uri  # entryUUIDs are the server's: links are bound to it
        self._paths = {kind: list(texts) for kind, texts in paths.items()}
        self._open = open_connection
        self._local = threading.local()
        self._opened: list[LDAPObject] = []
        self._lock = threading.Lock()

    # --- connections ---------------------------------------------------------------------------

    def _conn(self) -> LDAPObject:
        """This thread's bound connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # nothing was asked of the server yet: a failure here changed nothing there
            with ldap_request(f"cannot bind to LDAP at {self.server.describe()}", acting=False):
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        what: str,
        request: Callable[[LDAPObject], Any],
        *,
        attribute: str | None = None,
        missing: str | None = None,
        entry_write: bool = False,
    ) -> Any:
        """One request on this thread's connection; ``missing`` and ``entry_write`` as in
        errors.translate (a write of one entry, one naming a configured OU)."""
        conn = self._conn()
        with (
            self._dropped_when_lost(),
            ldap_request(what, attribute=attribute, missing=missing, entry_write=entry_write),
        ):
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
        return [base for base, _ in self._located(object_type)]

    def _located(self, object_type: str) -> list[tuple[str, str]]:
        """The OUs entries of this type are searched under, each with its config field."""
        kind = "users" if object_type == ObjectType.USER else "groups"
        bases = [(self._section(object_type).base_dn, f"target.{kind}.base_dn")]
        disable = self.target.disable
        if object_type == ObjectType.USER and disable.mode == "move":
            moved = canonical_dn(disable.base_dn)
            if not under(moved, canonical_dn(bases[0][0])):
                bases.append((disable.base_dn, "target.disable.base_dn"))
        return bases

    def _missing(self, base: str) -> str:
        """What "no such object" means for a request naming the configured OU ``base``."""
        fields = {
            canonical_dn(self.target.users.base_dn): "target.users.base_dn",
            **(
                {canonical_dn(self.target.groups.base_dn): "target.groups.base_dn"}
                if self.target.groups
                else {}
            ),
            **(
                {canonical_dn(self.target.disable.base_dn): "target.disable.base_dn"}
                if self.target.disable.base_dn
                else {}
            ),
        }
        return missing_ou(base, fields.get(canonical_dn(base), "target"))

    def _attributes(self, object_type: str, members: bool, extra: tuple[str, ...] = ()) -> list[str]:
        wanted = [self.target.id_attribute, *self._paths.get(object_type, []), *extra]
        if object_type == ObjectType.USER and self.target.disable.attribute:
            wanted.append(self.target.disable.attribute)
        if object_type == ObjectType.GROUP and members:
            wanted.append(self._groups().member_attribute)
        return list(dict.fromkeys(wanted))

    def _search(
        self, object_type: str, condition: str, attributes: list[str], *, attribute: str | None = None
    ) -> Iterator[Entry]:
        """Entries of this type (by its structural class) under its OUs that meet ``condition``."""
        section = self._section(object_type)
        filterstr = f"(&{section.structural_filter}{condition})"
        seen: set[str] = set()
        for base, field in self._located(object_type):
            # the base is a configured OU: "no such object" means it is missing, not an entry
            found = paged_search(
                self._conn(),
                base,
                "subtree",
                filterstr,
                attributes,
                self.target.page_size,
                lambda what, b=base, f=field: ldap_request(
                    what, attribute=attribute, missing=missing_ou(b, f)
                ),
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

    # --- values every verb reads ----------------------------------------------------------------

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

    def _member_dns(self, group_dn: str, values: Values) -> list[str]:
        """The group's member DNs, without the placeholder an empty group holds."""
        groups = self._groups()
        placeholder = canonical_dn(groups.empty_member or group_dn)
        return [
            text
            for raw in values.get(groups.member_attribute.lower(), [])
            if canonical_dn(text := raw.decode("utf-8", "replace")) != placeholder
        ]
