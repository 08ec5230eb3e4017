"""The URL an Airflow connection names.

``connection_url``: host (a full URL, or a bare host meaning https), then the optional port and
schema (a path); one rule for the SCIM hook and the alert webhooks. ``token_url``: the same for a
connection whose password is sent as a bearer token, which must not cross a network in clear
(``refuse_plain_http``: the same rule for any URL a secret goes to, an OAuth token endpoint say).
``sqlalchemy_url``: the database of a SQL connection (the directory's SQL source, the state store).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

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


def token_url(conn: Any, conn_id: str, what: str) -> str:
    """``connection_url`` of a connection whose password goes with every request as a bearer
    token: plain ``http://`` only to a loopback host, or when the connection's extra says
    ``allow_plain_http: true`` (a host on a network the operator trusts). Anyone on the path
    would read the token otherwise, and could act as us in the app."""
    url = connection_url(conn, conn_id, what)
    if conn.password:
        refuse_plain_http(url, conn, conn_id, what)
    return url


def refuse_plain_http(url: str, conn: Any, conn_id: str, what: str) -> None:
    """Raise unless ``url`` may carry a secret (a token, a client secret): https, a loopback host,
    or the connection's ``allow_plain_http: true``."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not loopback_host(parts.hostname):
        extra = conn.extra_dejson  # plain keys, or as a connection form saves its fields
        allowed = extra.get("allow_plain_http", extra.get(f"extra__{conn.conn_type}__allow_plain_http"))
        if allowed is not True and str(allowed).lower() != "true":
            raise ValueError(
                f"connection {conn_id!r}: {what} {url} is plain http, so its token would cross the "
                "network in clear; use https://, or set allow_plain_http: true in the connection's "
                "extra for a host on a network you trust"
            )


def loopback_host(host: str | None) -> bool:
    """This machine: the one place a secret may travel in clear (its traffic never leaves it)."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
