"""An Airflow hook that yields a SQLAlchemy engine for any SQL database behind a Connection.

Used for the directory (and, in the glue, the state store). Extra ``sqlalchemy_url`` wins;
otherwise the URL is built from the connection type: ``sqlite`` (host = file path),
``postgres`` and ``mysql`` from host, port, login, password and schema (= database).
"""

from __future__ import annotations

from airflow.sdk import BaseHook
from sqlalchemy import URL, Engine, create_engine, make_url

_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


class SqlAlchemyHook(BaseHook):
    conn_name_attr = "sql_conn_id"
    default_conn_name = "directory_default"
    conn_type = "generic"
    hook_name = "SQLAlchemy database"

    def __init__(self, sql_conn_id: str = default_conn_name):
        super().__init__()
        self.sql_conn_id = sql_conn_id

    def sqlalchemy_url(self) -> URL:
        conn = self.get_connection(self.sql_conn_id)
        explicit = conn.extra_dejson.get("sqlalchemy_url")
        if explicit:
            return make_url(explicit)
        if conn.conn_type == "sqlite":
            return make_url(f"sqlite:///{conn.host}")
        driver = _DRIVERS.get(conn.conn_type)
        if driver is None:
            raise ValueError(
                f"connection {self.sql_conn_id!r} has type {conn.conn_type!r}: "
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

    def get_conn(self) -> Engine:
        return create_engine(self.sqlalchemy_url(), pool_pre_ping=True)
