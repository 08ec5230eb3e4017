"""The LDAP connection of the source, as DirectoryErrors (docs/sources/ldap.md).

Reading the Airflow connection, TLS and the refusal of plain binds over a network are shared with
the LDAP target (connectors/ldap_connection.py documents the fields); here they only raise what
every source raises, saying what was being done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ldap
from ldap.ldapobject import LDAPObject

from provisioning.connectors import ldap_connection
from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.ldap_connection import (
    TLS_MODES,
    LdapEndpoint,
    LdapSettingsError,
    TlsMode,
    describe_error,
    open_bound,
)

__all__ = ["TLS_MODES", "LdapEndpoint", "TlsMode", "connect", "describe_error", "endpoint_of", "ldap_errors"]


def endpoint_of(conn: Any, conn_id: str) -> LdapEndpoint:
    """The endpoint of an Airflow connection, refused with the field to fix when it is unusable."""
    try:
        return ldap_connection.endpoint_of(conn, conn_id)
    except LdapSettingsError as exc:
        raise DirectoryError(str(exc)) from None


@contextmanager
def ldap_errors(what: str) -> Iterator[None]:
    """LDAP failures as the DirectoryError every source raises, saying what was being done."""
    try:
        yield
    except ldap.LDAPError as exc:
        raise DirectoryError(f"{what}: {describe_error(exc)}") from None


def connect(endpoint: LdapEndpoint, timeout: float) -> LDAPObject:
    """A bound connection, or a DirectoryError naming where and as whom."""
    with ldap_errors(f"cannot connect to LDAP at {endpoint.describe()}"):
        return open_bound(endpoint, timeout)
