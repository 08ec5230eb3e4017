"""Opening the LDAP target from Airflow: the ``ldap`` connection type's hook (LdapHook, shared with
the LDAP source) gives the server, TLS and bind DN; the app config gives the rest.

The connection's login is the DN the target binds as and its password the bind password; that
account needs the right to add, modify, rename and delete entries under the configured OUs (and to
modify the groups there). TLS and the refusal of a plain bind over a network are the source's
(connectors/ldap_connection.py).
"""

from __future__ import annotations

from provisioning.config import AppConfig
from provisioning.connectors.directory.ldap.hook import LdapHook
from provisioning.connectors.errors import AppUnusable
from provisioning.connectors.ldap_connection import LdapSettingsError
from provisioning.connectors.ldap_target.connector import LdapTargetConnector
from provisioning.connectors.rate_share import RateShare
from provisioning.engine.partitions import Partition


def open_ldap_target(
    config: AppConfig, partition: Partition | None = None, rate_share: RateShare | None = None
) -> LdapTargetConnector:
    """The connector of a ``kind: ldap`` target (opening binds nothing: each thread binds on its
    first request). A partition changes nothing here: LDAP servers set no shared request rate, and
    the number of threads, hence of connections, is already the partition's share."""
    target = config.target
    if config.groups is not None and getattr(target, "groups", None) is None:
        raise AppUnusable(
            f"app {config.app!r} provisions groups but its LDAP target has no groups section "
            "(target.groups.base_dn: the OU groups are written to)",
            code="LDAP:NoGroupsOU",
        )
    try:
        endpoint = LdapHook(target.conn_id, timeout=target.timeout_seconds).endpoint()
    except LdapSettingsError as exc:
        raise AppUnusable(str(exc), code="LDAP:Connection") from None
    return LdapTargetConnector.for_app(config, endpoint)
