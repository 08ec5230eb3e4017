"""Turning an app config's connection ids into the objects a cycle step uses."""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import BaseHook
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowNotFoundException
from sqlalchemy import URL, make_url

from provisioning.config import AppConfig
from provisioning.connectors.directory.base import DirectorySource
from provisioning.connectors.directory.registry import open_source
from provisioning.connectors.sql import SqlAlchemyHook
from provisioning.connectors.targets import open_target
from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import RunOptions
from provisioning.engine.partitions import Partition
from provisioning.state.rate_share import StoreRateShare
from provisioning.state.schema import require_current
from provisioning.state.store import StateStore

# executors whose tasks all run on the machine of the scheduler: they may share one SQLite file
SINGLE_MACHINE_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor"})


class StateStoreMissing(RuntimeError):
    """No state store connection where a local SQLite file would split the state between machines."""


def state_store_url(conn_id: str) -> URL:
    """The state store's URL. Without that connection, a SQLite file beside the Airflow metadata --
    only on one machine: with a distributed executor each worker would keep state of its own, and a
    step would not find what the previous one wrote (or, worse, links another worker made)."""
    try:
        return SqlAlchemyHook(conn_id).sqlalchemy_url()
    except AirflowNotFoundException:
        executors = {name.strip().rsplit(".", 1)[-1] for name in conf.get("core", "executor").split(",")}
        if not executors <= SINGLE_MACHINE_EXECUTORS:
            raise StateStoreMissing(
                f"no Airflow connection {conn_id!r} for the state store: it is required with "
                f"{', '.join(sorted(executors - SINGLE_MACHINE_EXECUTORS))} (every worker must use "
                "one shared database, e.g. PostgreSQL); see docs/deployment.md"
            ) from None
        home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
        return make_url(f"sqlite:///{home / 'provisioning_state.db'}")


def open_state_store(config: AppConfig) -> StateStore:
    """The app's store, refused unless `provisioning db upgrade` brought it to this release."""
    store = StateStore(state_store_url(config.state_conn_id))
    require_current(store.engine)
    return store


def open_directory(config: AppConfig) -> DirectorySource:
    """The source of the app's ``directory.kind``, with its credentials from Airflow connections."""
    return open_source(config.directory, BaseHook.get_connection, config.app)


def cycle_context(
    config: AppConfig, cycle_id: str, options: RunOptions | None = None, partition: Partition | None = None
) -> CycleContext:
    """``partition``: the context of one partition of a partitioned apply (its share of the limits).
    Every client of the app shares its learned rate and 429 pauses through the state store."""
    store = open_state_store(config)
    share = StoreRateShare(store.engine, config.app, partition.count if partition else 1)
    return CycleContext(
        config=config,
        cycle_id=cycle_id,
        store=store,
        open_directory=lambda: open_directory(config),
        open_app=lambda: open_target(config, partition, share),
        options=options or RunOptions(),
    )
