"""An LDAP server as an Airflow connection describes it, opened, bound and searched page by page:
shared by the LDAP source (connectors/directory/ldap/) and the LDAP target (connectors/ldap_target/).

Airflow connection fields: host (a name, or an ``ldap://`` / ``ldaps://`` URL), port (389 or
636 when empty), login (the bind DN; empty binds anonymously), password. Extra: ``tls``
(``ldaps``, ``starttls`` or ``none``; ``starttls`` unless the host or port says ldaps), ``ca_file``
(the CA that signed the server's certificate; the system's CAs otherwise) and ``allow_plain``.
A password never crosses a network in clear: ``tls: none`` binds with one only to this machine,
or when ``allow_plain: true`` says the network is trusted. Certificates are always verified.

Failures are python-ldap's own errors here (bad settings: ``LdapSettingsError``): the source turns
them into a DirectoryError, the target into the connector errors the cycle acts on, each with the
same one-line description (``describe_error``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import ldap
from ldap.controls import SimplePagedResultsControl
from ldap.ldapobject import LDAPObject

from provisioning.connectors.connection_url import loopback_host

TlsMode = Literal["ldaps", "starttls", "none"]
TLS_MODES: tuple[TlsMode, ...] = ("ldaps", "starttls", "none")
SCOPES = {"subtree": ldap.SCOPE_SUBTREE, "one": ldap.SCOPE_ONELEVEL, "base": ldap.SCOPE_BASE}

Entry = tuple[str, dict[str, list[bytes]]]  # DN, attribute values by lowercased attribute name
# what the caller wraps each LDAP request in: ``errors(what)`` turns an LDAPError into its own error
ErrorTranslation = Callable[[str], AbstractContextManager[None]]


class LdapSettingsError(ValueError):
    """The Airflow connection cannot be used as it is (the message names the field to fix)."""


@dataclass(frozen=True)
class LdapEndpoint:
    host: str
    port: int
    tls: TlsMode
    bind_dn: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @property
    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'ldaps' if self.tls == 'ldaps' else 'ldap'}://{host}:{self.port}"

    def describe(self) -> str:
        """Where, as errors and logs name it: never the password."""
        who = f" as {self.bind_dn}" if self.bind_dn else " anonymously"
        return f"{self.uri}{' (StartTLS)' if self.tls == 'starttls' else ''}{who}"


def endpoint_of(conn: Any, conn_id: str) -> LdapEndpoint:
    """The endpoint of an Airflow connection, refused with the field to fix when it is unusable."""
    if not conn.host:
        raise LdapSettingsError(f"LDAP connection {conn_id!r} has no host")
    parts = urlsplit(conn.host if "://" in conn.host else f"//{conn.host}")
    saved = conn.extra_dejson  # plain keys, or as the connection form saves its fields
    extra = {key.removeprefix("extra__ldap__"): value for key, value in saved.items()}
    scheme = (parts.scheme or "").lower()
    if scheme not in ("", "ldap", "ldaps"):
        raise LdapSettingsError(
            f"LDAP connection {conn_id!r}: host {conn.host!r} is not an ldap:// or ldaps:// URL"
        )
    port = conn.port or parts.port or (636 if scheme == "ldaps" else 389)
    tls = extra.get("tls") or ("ldaps" if scheme == "ldaps" or port == 636 else "starttls")
    if tls not in TLS_MODES:
        raise LdapSettingsError(
            f"LDAP connection {conn_id!r}: extra tls is {tls!r} (use one of {', '.join(TLS_MODES)})"
        )
    endpoint = LdapEndpoint(
        host=parts.hostname or conn.host,
        port=int(port),
        tls=tls,
        bind_dn=conn.login or None,
        password=conn.password or None,
        ca_file=extra.get("ca_file") or None,
    )
    allowed = str(extra.get("allow_plain")).lower() == "true"
    if tls == "none" and endpoint.password and not loopback_host(endpoint.host) and not allowed:
        raise LdapSettingsError(
            f"LDAP connection {conn_id!r}: tls is none, so the bind password would cross the network "
            "in clear; use tls ldaps or starttls, or set allow_plain: true in the connection's extra "
            "for a network you trust"
        )
    return endpoint


def describe_error(exc: ldap.LDAPError) -> str:
    """python-ldap's error as one line: the result's description and the server's diagnostic."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    description = info.get("desc") or type(exc).__name__
    detail = info.get("info")
    return f"{description} ({detail})" if detail else description


def open_bound(endpoint: LdapEndpoint, timeout: float) -> LDAPObject:
    """A bound connection (python-ldap's errors raised as they are). Referrals are not chased
    (Active Directory's point to other domains, and chasing would bind there with these
    credentials)."""
    conn = ldap.initialize(endpoint.uri)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_TIMEOUT, timeout)
    if endpoint.tls != "none":
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        if endpoint.ca_file:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, endpoint.ca_file)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: the TLS options above take effect
        if endpoint.tls == "starttls":
            conn.start_tls_s()
    conn.simple_bind_s(endpoint.bind_dn or "", endpoint.password or "")
    return conn


def paged_search(
    conn: LDAPObject,
    base: str,
    scope: str,
    filterstr: str,
    attributes: list[str],
    page_size: int,
    errors: ErrorTranslation,
) -> Iterator[Entry]:
    """Every entry the search finds, page by page (RFC 2696), so only one page of raw entries is
    held and a server's size limit (AD's MaxPageSize) does not cut the answer short. Entries are
    taken as they arrive, so the server sends the rest of a page while the caller reads the first
    ones. Search references (referrals to other servers or domains) are skipped, as referrals are
    not chased."""
    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
    what = f"LDAP search of {base!r} with filter {filterstr!r}"
    while True:
        with errors(what):
            msgid = conn.search_ext(base, SCOPES[scope], filterstr, attributes, serverctrls=[control])
        while True:
            with errors(what):
                kind, entries, _, controls = conn.result3(msgid, all=0)
            for dn, values in entries:
                if dn is not None and isinstance(values, dict):
                    yield dn, {name.lower(): found for name, found in values.items()}
            if kind == ldap.RES_SEARCH_RESULT:
                break
        cookie = next(
            (c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType), b""
        )
        if not cookie:
            return
        control.cookie = cookie
