"""python-ldap's results in the cycle's terms (connectors/errors.py), each message naming the
request and the DN it was about; never a value or the bind password.

A refused bind, or missing rights to search a configured OU, stop the cycle (every request
would fail the same way); missing rights to write one entry are that entry's (Active Directory
protects some accounts, e.g. those AdminSDHolder guards, from writes it allows on others). A
configured OU that does not exist (a search base, the parent of an add, the OU of a move) stops the
cycle too: "no such object" means "not found" only for one entry looked up. A server that is
down, busy or slow is transient; an existing DN is "already exists", so the cycle looks the entry
up and links it; schema and naming refusals are this one object's, and permanent (the same
request would be refused again).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ldap

from provisioning.connectors.errors import (
    AlreadyExists,
    AppUnusable,
    ConnectorError,
    NotFound,
    QueryRefused,
    Rejected,
    TransientError,
)
from provisioning.connectors.ldap_connection import describe_error

UNUSABLE = (
    ldap.INVALID_CREDENTIALS,
    ldap.INAPPROPRIATE_AUTH,
    ldap.STRONG_AUTH_REQUIRED,
    ldap.CONFIDENTIALITY_REQUIRED,
    ldap.INSUFFICIENT_ACCESS,  # a write of one entry: that entry's (see translate)
    ldap.PROTOCOL_ERROR,
)
TRANSIENT = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.TIMELIMIT_EXCEEDED,
    ldap.BUSY,
    ldap.UNAVAILABLE,
    ldap.CONNECT_ERROR,
    ldap.ADMINLIMIT_EXCEEDED,
    ldap.OTHER,
)
REFUSED_QUERY = (ldap.FILTER_ERROR, ldap.INAPPROPRIATE_MATCHING)


class LdapTransient(TransientError):
    """A transient failure; ``acted`` says whether the server may have carried the request out
    (a connection lost after the request was sent) or surely did not (it could not be reached)."""

    def __init__(self, message: str, *, code: str | None = None, acted: bool = True):
        super().__init__(message, code=code)
        self._acted = acted

    @property
    def may_have_acted(self) -> bool:
        return self._acted


def missing_ou(base: str, field: str) -> str:
    """What ``no such object`` means when ``base`` is a configured OU (at ``field``)."""
    return f"the configured OU {base!r} ({field}) does not exist"


def translate(
    exc: ldap.LDAPError,
    what: str,
    *,
    attribute: str | None = None,
    acting: bool = True,
    missing: str | None = None,
    entry_write: bool = False,
) -> ConnectorError:
    """The connector error for ``exc``, raised while doing ``what`` (``LDAP add of 'uid=...'``);
    ``acting``: whether the request could have changed anything (a bind cannot); ``missing``: what
    "no such object" means when the request named a configured OU (missing_ou), else the entry is
    not found; ``entry_write``: an add, modify, rename or delete of one entry, whose refusal for
    lack of rights is that entry's."""
    message = f"{what}: {describe_error(exc)}"
    code = f"LDAP:{type(exc).__name__}"
    if isinstance(exc, ldap.ALREADY_EXISTS):
        return AlreadyExists(message, code=code)
    if isinstance(exc, ldap.NO_SUCH_OBJECT):
        if missing is not None:
            return AppUnusable(f"{what}: {missing}", code="LDAP:MissingOU")
        return NotFound(message, code=code)
    if isinstance(exc, ldap.INSUFFICIENT_ACCESS) and entry_write:
        return Rejected(
            f"{message} (the bind DN may not change this entry; directories protect some entries, "
            "e.g. Active Directory's AdminSDHolder accounts)",
            code=code,
            permanent=True,
        )
    if isinstance(exc, UNUSABLE):
        return AppUnusable(message, code=code)
    if isinstance(exc, REFUSED_QUERY) and attribute is not None:
        return QueryRefused(message, attribute=attribute, code=code)
    if isinstance(exc, TRANSIENT):
        return LdapTransient(message, code=code, acted=acting and not isinstance(exc, ldap.CONNECT_ERROR))
    return Rejected(message, code=code, permanent=True)


@contextmanager
def ldap_request(
    what: str,
    *,
    attribute: str | None = None,
    acting: bool = True,
    missing: str | None = None,
    entry_write: bool = False,
) -> Iterator[None]:
    """Run one LDAP request, raising the cycle's error for whatever went wrong."""
    try:
        yield
    except ldap.LDAPError as exc:
        raise translate(
            exc, what, attribute=attribute, acting=acting, missing=missing, entry_write=entry_write
        ) from None
