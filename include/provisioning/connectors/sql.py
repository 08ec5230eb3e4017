"""An Airflow hook that yields a SQLAlchemy engine for any SQL database behind a Connection.

Used for the state store; the URL rules are ``connection_url.sqlalchemy_url`` (shared with the
directory's SQL source, which gets its connection from the source registry).
"""

from __future__ import annotations

from airflow.sdk import BaseHook
from sqlalchemy import URL, Engine, create_engine

from provisioning.connectors.connection_url import sqlalchemy_url


class SqlAlchemyHook(BaseHook):
    conn_name_attr = "sql_conn_id"
    default_conn_name = "directory_default"
    conn_type = "generic"
    hook_name = "SQLAlchemy database"

    def __init__(self, sql_conn_id: str = default_conn_name):
        super().__init__()
        self.sql_conn_id = sql_conn_id

    def sqlalchemy_url(self) -> URL:
        return sqlalchemy_url(self.get_connection(self.sql_conn_id), self.sql_conn_id)

    def get_conn(self) -> Engine:
        return create_engine(self.sqlalchemy_url(), pool_pre_ping=True)
