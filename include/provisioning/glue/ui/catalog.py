"""The apps the Provisioning page shows a caller: every config file that loads, every one that
does not (with the file, field and problem, so a broken config is seen, not hidden), each only to
callers who may read the app's DAG; and each app's state store, opened once per store however
many apps share it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

from fastapi import HTTPException

from provisioning.config import AppConfig
from provisioning.config.app import dag_id_for
from provisioning.config.errors import ConfigError
from provisioning.config.loader import app_config_paths, load_app_config
from provisioning.glue.ui.host import Host
from provisioning.glue.ui.models import BrokenConfig, ConfigProblem
from provisioning.state import StateStore
from provisioning.state.schema import StateStoreNotReady, require_current


@dataclass(frozen=True, kw_only=True)
class Apps:
    configs: dict[str, AppConfig]  # by app name, sorted
    broken: list[BrokenConfig]
    hidden: frozenset[str] = frozenset()  # apps the caller may not read: named only to refuse them


class Catalog:
    def __init__(self, host: Host, folder: Path | None = None):
        self.host = host
        self.folder = folder  # None: the apps folder the DAGs read
        self._stores: dict[str, StateStore] = {}
        self._opening = Lock()  # requests run in a thread pool: one store (and schema check) per URL

    def apps(self, user: Any) -> Apps:
        """The apps ``user`` may see: those whose DAG the platform lets them read (a broken config
        by the DAG id its file name gives). Every config is read now: a file edited since the last
        request is read as it is now."""
        known = self._read_all()
        readable = self.host.readable_dag_ids(
            user, {c.dag_id for c in known.configs.values()} | {dag_id_for(b.app) for b in known.broken}
        )
        configs = {name: c for name, c in known.configs.items() if c.dag_id in readable}
        broken = [b for b in known.broken if dag_id_for(b.app) in readable]
        hidden = (set(known.configs) - set(configs)) | {b.app for b in known.broken if b not in broken}
        return Apps(configs=configs, broken=broken, hidden=frozenset(hidden))

    def _read_all(self) -> Apps:
        configs: dict[str, AppConfig] = {}
        broken: list[BrokenConfig] = []
        for path in app_config_paths(self.folder):
            try:
                config = load_app_config(path)
            except Exception as exc:  # whatever is wrong with one file, the page shows it and the rest
                error = exc if isinstance(exc, ConfigError) else ConfigError(path, [("", repr(exc))])
                problems = [ConfigProblem(field=f, message=m) for f, m in error.problems]
                broken.append(
                    BrokenConfig(app=path.stem, file=error.path, problems=problems, message=str(error))
                )
                continue
            configs[config.app] = config
        return Apps(configs=dict(sorted(configs.items())), broken=broken)

    def store(self, config: AppConfig) -> StateStore:
        url = self.host.state_store_url(config.state_conn_id)
        with self._opening:
            if url not in self._stores:
                store = StateStore(url)
                try:
                    require_current(store.engine)
                except StateStoreNotReady as exc:  # the page says what to run, as the tasks do
                    raise HTTPException(503, str(exc)) from None
                self._stores[url] = store
            return self._stores[url]

    def by_store(self, configs: list[AppConfig]) -> list[tuple[StateStore, tuple[str, ...]]]:
        """Apps grouped by state store (usually one for all)."""
        grouped: dict[int, tuple[StateStore, tuple[str, ...]]] = {}
        for config in configs:
            store = self.store(config)
            _, apps = grouped.get(id(store), (store, ()))
            grouped[id(store)] = (store, (*apps, config.app))
        return list(grouped.values())
