"""What every step of a cycle needs, built once per task by the caller (Airflow glue or a script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from provisioning.config.models import AppConfig
from provisioning.connectors.base import AppConnector
from provisioning.connectors.directory.reader import DirectoryReader
from provisioning.engine.mapping import CompiledMapping, compile_mappings
from provisioning.engine.matching import MatchRule
from provisioning.engine.scim_path import ScimPath
from provisioning.engine.scoping import ScopingFilter
from provisioning.state.store import StateStore


@dataclass
class CycleContext:
    config: AppConfig
    cycle_id: str
    store: StateStore
    open_directory: Callable[[], DirectoryReader]
    open_app: Callable[[], AppConnector]
    mappings: list[CompiledMapping] = field(init=False)
    paths: dict[str, ScimPath] = field(init=False)
    rules: list[MatchRule] = field(init=False)
    filters: list[ScopingFilter] = field(init=False)

    def __post_init__(self) -> None:
        self.mappings = compile_mappings(self.config.users.mappings)
        self.paths = self.config.users.mapped_paths()
        self.filters = self.config.users.scoping_filters()
        by_name = {text.lower(): path for text, path in self.paths.items()}
        self.rules = [
            MatchRule(by_name[rule.target.strip().lower()], rule.is_case_sensitive)
            for rule in self.config.users.matching
        ]

    @property
    def app(self) -> str:
        return self.config.app
