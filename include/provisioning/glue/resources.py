"""Turning an app config's connection ids into the objects a cycle step uses."""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from sqlalchemy import URL, make_url

from provisioning.config import AppConfig
from provisioning.connectors.directory.base import DirectorySource
from provisioning.connectors.directory.registry import open_source
from provisioning.connectors.sql import SqlAlchemyHook
from provisioning.connectors.targets import open_target
from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import RunOptions
from provisioning.state.store import StateStore


def state_store_url(conn_id: str) -> URL:
    """The state store's URL; without that connection, a SQLite file beside the Airflow metadata."""
    try:
        return SqlAlchemyHook(conn_id).sqlalchemy_url()
    except AirflowNotFoundException:
        home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
        return make_url(f"sqlite:///{home / 'provisioning_state.db'}")


def open_state_store(config: AppConfig) -> StateStore:
    store = StateStore(state_store_url(config.state_conn_id))
    store.create_schema()
    return store


def open_directory(config: AppConfig) -> DirectorySource:
    """The source of the app's ``directory.kind``, with its credentials from Airflow connections."""
    return open_source(config.directory, BaseHook.get_connection)


def cycle_context(config: AppConfig, cycle_id: str, options: RunOptions | None = None) -> CycleContext:
    return CycleContext(
        config=config,
        cycle_id=cycle_id,
        store=open_state_store(config),
        open_directory=lambda: open_directory(config),
        open_app=lambda: open_target(config),
        options=options or RunOptions(),
    )
