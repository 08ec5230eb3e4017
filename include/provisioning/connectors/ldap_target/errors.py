"""python-ldap's results in the cycle's terms (connectors/errors.py), each message naming the
request and the DN it was about; never a value or the bind password.

A refused bind or missing rights stop the cycle (every write would fail the same way); a server
that is down, busy or slow is transient; an existing DN is "already exists", so the cycle looks
the entry up and links it; schema and naming refusals are this one object's, and permanent (the
same request would be refused again).
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
    ldap.INSUFFICIENT_ACCESS,
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


def translate(
    exc: ldap.LDAPError, what: str, *, attribute: str | None = None, acting: bool = True
) -> ConnectorError:
    """The connector error for ``exc``, raised while doing ``what`` (``LDAP add of 'uid=...'``);
    ``acting``: whether the request could have changed anything (a bind cannot)."""
    message = f"{what}: {describe_error(exc)}"
    code = f"LDAP:{type(exc).__name__}"
    if isinstance(exc, ldap.ALREADY_EXISTS):
        return AlreadyExists(message, code=code)
    if isinstance(exc, ldap.NO_SUCH_OBJECT):
        return NotFound(message, code=code)
    if isinstance(exc, UNUSABLE):
        return AppUnusable(message, code=code)
    if isinstance(exc, REFUSED_QUERY) and attribute is not None:
        return QueryRefused(message, attribute=attribute, code=code)
    if isinstance(exc, TRANSIENT):
        return LdapTransient(message, code=code, acted=acting and not isinstance(exc, ldap.CONNECT_ERROR))
    return Rejected(message, code=code, permanent=True)


@contextmanager
def ldap_request(what: str, *, attribute: str | None = None, acting: bool = True) -> Iterator[None]:
    """Run one LDAP request, raising the cycle's error for whatever went wrong."""
    try:
        yield
    except ldap.LDAPError as exc:
        raise translate(exc, what, attribute=attribute, acting=acting) from None
