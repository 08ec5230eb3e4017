"""The demo's Active Directory: a slapd per LDAP connection of ``airflow_settings.yaml`` that points
at 127.0.0.1, holding the demo directory's people as AD-shaped entries (demo/ldif.py), so the
LDAP-backed demo app provisions the same people a SQL-backed one would.

Shared by ``make run`` and the Celery tier, as demo/scim_apps.py is. Each start is a fresh
directory, built from the SQL demo directory, as each start is a fresh set of SCIM apps.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine

from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.demo.ldif import ad_ldif
from provisioning.demo.slapd import Slapd


def start_demo_ldap(
    settings: dict, directory: Path, folder: Path, *, fixed_ports: bool = True
) -> list[Slapd]:
    """Start a server per demo LDAP connection and point the connection (in ``settings``) at it.
    ``fixed_ports``: listen on the connection's port, else on a free one (written back)."""
    connections = [
        conn
        for conn in settings["connections"].values()
        if conn["conn_type"] == "ldap" and conn.get("host") == "127.0.0.1"
    ]
    if not connections:
        return []
    ldif = ad_ldif(SqlDirectorySource(create_engine(f"sqlite:///{directory}")).read())
    servers: list[Slapd] = []
    try:
        for n, conn in enumerate(connections):
            where = folder / f"slapd-{n}"
            shutil.rmtree(where, ignore_errors=True)
            server = Slapd(where, ldif, port=int(conn["port"]) if fixed_ports else None)
            servers.append(server.start())
            conn["port"] = server.port
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers
