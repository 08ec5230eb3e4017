"""What every step of a cycle needs, built once per task by the caller (Airflow glue or a script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from provisioning.config import AppConfig
from provisioning.config.objects import ObjectProvisioning
from provisioning.connectors.base import AppConnector
from provisioning.connectors.directory.base import DirectorySource
from provisioning.cycle.options import RunOptions
from provisioning.engine.mapping import CompiledMapping, compile_mappings
from provisioning.engine.matching import MatchRule
from provisioning.engine.scim_path import ScimPath
from provisioning.engine.scoping import ScopingFilter
from provisioning.state.store import StateStore


@dataclass(frozen=True)
class ObjectRules:
    """Compiled config of one object type (users or groups)."""

    mappings: list[CompiledMapping]
    paths: dict[str, ScimPath]
    rules: list[MatchRule]
    filters: list[ScopingFilter]

    @classmethod
    def compile(cls, section: ObjectProvisioning) -> ObjectRules:
        paths = section.mapped_paths()
        by_name = {text.lower(): path for text, path in paths.items()}
        return cls(
            compile_mappings(section.mappings),
            paths,
            [MatchRule(by_name[r.target.strip().lower()], r.is_case_sensitive) for r in section.matching],
            section.scoping_filters(),
        )


@dataclass
class CycleContext:
    config: AppConfig
    cycle_id: str
    store: StateStore
    open_directory: Callable[[], DirectorySource]
    open_app: Callable[[], AppConnector]
    options: RunOptions = field(default_factory=RunOptions)
    users: ObjectRules = field(init=False)
    groups: ObjectRules | None = field(init=False)
    _connector: AppConnector | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.users = ObjectRules.compile(self.config.users)
        self.groups = ObjectRules.compile(self.config.groups) if self.config.groups else None

    def connector(self) -> AppConnector:
        """The step's app connector, opened on first use (opening sends no request)."""
        if self._connector is None:
            self._connector = self.open_app()
        return self._connector

    @property
    def app(self) -> str:
        return self.config.app
