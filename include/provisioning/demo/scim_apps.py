"""The demo SCIM apps of ``airflow_settings.yaml``: one scim2-server per SCIM connection that points
at 127.0.0.1, and the accounts the CRM holds before its first cycle.

Shared by ``make run`` (Airflow standalone) and the Celery tier (``make run-distributed`` and
tests/distributed), so both demos start the same apps the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from provisioning.demo.scim_server import ScimServer

SEEDED_CRM_ACCOUNTS = 30


def local_scim_connections(settings: dict) -> dict[str, dict]:
    """The SCIM connections of the settings that name a port on 127.0.0.1: the demo apps."""
    found = {}
    for conn_id, conn in settings["connections"].items():
        url = urlparse(conn.get("host", ""))
        if conn["conn_type"] == "scim" and url.hostname == "127.0.0.1" and url.port:
            found[conn_id] = conn
    return found


def start_scim_apps(
    settings: dict,
    log_dir: Path,
    *,
    fixed_ports: bool = True,
    front: Callable[[str, str], str] | None = None,
) -> dict[str, ScimServer]:
    """Start an empty app per demo connection and point the connection (in ``settings``) at it;
    the servers by connection id.

    ``fixed_ports``: listen on the port the connection names (what a user's curl expects), else
    on a free one (tests beside a running demo). ``front(conn_id, server_url)`` returns the URL
    the connection should use instead, e.g. a recording proxy in front of the server.
    """
    servers: dict[str, ScimServer] = {}
    try:
        for conn_id, conn in local_scim_connections(settings).items():
            port = urlparse(conn["host"]).port if fixed_ports else None
            server = ScimServer(port=port, token=conn.get("password"), log_file=log_dir / f"{conn_id}.log")
            servers[conn_id] = server.start()
            conn["host"] = front(conn_id, server.url) if front else server.url
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def seed_existing_accounts(settings: dict, directory: Path, crm_config: Path) -> int:
    """Put accounts into the CRM (``crm_config``) before its first cycle, as a real app has them:
    the cycle must match them (a third by e-mail, under a hand-made user name), not duplicate them."""
    from sqlalchemy import create_engine

    from provisioning.config import load_app_config
    from provisioning.connectors.directory.sql import SqlDirectorySource
    from provisioning.connectors.scim.client import ScimClient
    from provisioning.engine.assignments import assigned_user_ids

    config = load_app_config(crm_config)
    conn = settings["connections"][config.target.conn_id]
    snapshot = SqlDirectorySource(create_engine(f"sqlite:///{directory}")).read()
    assigned = assigned_user_ids(config.app, snapshot.assignments, snapshot.memberships)
    people = snapshot.users[snapshot.users["id"].isin(assigned)].head(SEEDED_CRM_ACCOUNTS)
    with ScimClient(conn["host"], conn.get("password")) as client:
        for n, row in enumerate(people.itertuples()):
            user = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "active": True,
                "emails": [{"type": "work", "value": row.mail}],
                "userName": f"legacy-{n}" if n % 3 == 0 else row.userPrincipalName.upper(),
            }
            client.create_resource("user", user)
    return len(people)
