"""The URL an Airflow connection names.

``connection_url``: host (a full URL, or a bare host meaning https), then the optional port and
schema (a path); one rule for the SCIM hook and the alert webhooks. ``sqlalchemy_url``: the
database of a SQL connection (the directory's SQL source, the state store).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, make_url

_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


def connection_url(conn: Any, conn_id: str, what: str) -> str:
    if not conn.host:
        raise ValueError(f"connection {conn_id!r} has no host ({what})")
    url = conn.host if "://" in conn.host else f"https://{conn.host}"
    if conn.port:
        url = f"{url.rstrip('/')}:{conn.port}"
    if conn.schema:
        url = f"{url.rstrip('/')}/{conn.schema.strip('/')}"
    return url


def sqlalchemy_url(conn: Any, conn_id: str) -> URL:
    """Extra ``sqlalchemy_url`` wins; otherwise the URL is built from the connection type:
    ``sqlite`` (host = file path), ``postgres`` and ``mysql`` from host, port, login, password and
    schema (= database)."""
    explicit = conn.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return make_url(explicit)
    if conn.conn_type == "sqlite":
        return make_url(f"sqlite:///{conn.host}")
    driver = _DRIVERS.get(conn.conn_type)
    if driver is None:
        raise ValueError(
            f"connection {conn_id!r} has type {conn.conn_type!r}: "
            "use sqlite, postgres or mysql, or set extra 'sqlalchemy_url'"
        )
    return URL.create(
        driver,
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
    )
