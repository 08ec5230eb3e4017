"""The URL an Airflow connection names: host (a full URL, or a bare host meaning https), then the
optional port and schema (a path). One rule for the SCIM hook and the alert webhooks."""

from __future__ import annotations

from typing import Any


def connection_url(conn: Any, conn_id: str, what: str) -> str:
    if not conn.host:
        raise ValueError(f"connection {conn_id!r} has no host ({what})")
    url = conn.host if "://" in conn.host else f"https://{conn.host}"
    if conn.port:
        url = f"{url.rstrip('/')}:{conn.port}"
    if conn.schema:
        url = f"{url.rstrip('/')}/{conn.schema.strip('/')}"
    return url
