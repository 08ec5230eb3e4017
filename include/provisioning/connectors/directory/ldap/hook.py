"""Airflow hook of the LDAP connection type ("LDAP directory", registered by provider_info.py): a
bound connection from an Airflow connection, and the connection form's "Test" button.

One connection type serves both directions: the LDAP source reads through it (taking connections
through the registry's lookup, connectors/directory/registry.py, so it reads the same fields
without this hook) and the LDAP target (connectors/ldap_target/) writes through it, binding as the
connection's login with its password. connectors/ldap_connection.py documents the fields.
"""

from __future__ import annotations

from airflow.sdk import BaseHook
from ldap.ldapobject import LDAPObject

from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.directory.ldap.connection import connect, ldap_errors
from provisioning.connectors.ldap_connection import LdapEndpoint, LdapSettingsError, endpoint_of

TEST_TIMEOUT = 15.0


class LdapHook(BaseHook):
    conn_name_attr = "ldap_conn_id"
    default_conn_name = "ldap_default"
    conn_type = "ldap"
    hook_name = "LDAP directory"

    def __init__(self, ldap_conn_id: str = default_conn_name, timeout: float = TEST_TIMEOUT):
        super().__init__()
        self.ldap_conn_id = ldap_conn_id
        self.timeout = timeout

    def endpoint(self) -> LdapEndpoint:
        """Where and as whom, from the Airflow connection; LdapSettingsError names the field to fix."""
        return endpoint_of(self.get_connection(self.ldap_conn_id), self.ldap_conn_id)

    def get_conn(self) -> LDAPObject:
        try:
            endpoint = self.endpoint()
        except LdapSettingsError as exc:
            raise DirectoryError(str(exc)) from None
        return connect(endpoint, self.timeout)

    def test_connection(self) -> tuple[bool, str]:
        """Bind, then ask who we are: proves host, TLS, certificate and credentials."""
        try:
            endpoint = self.endpoint()
            conn = connect(endpoint, self.timeout)
            with ldap_errors("bound, but cannot ask the server who we are"):
                identity = conn.whoami_s() or "anonymous"
            conn.unbind_s()
        except (DirectoryError, LdapSettingsError) as exc:
            return False, str(exc)
        return True, f"bound to {endpoint.uri} as {identity}"
