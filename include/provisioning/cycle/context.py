"""What every step of a cycle needs, built once per task by the caller (Airflow glue or a script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from provisioning.config import AppConfig
from provisioning.config.objects import ObjectProvisioning
from provisioning.config.target import TargetConfig
from provisioning.connectors.base import AppConnector
from provisioning.connectors.directory.base import DirectorySource
from provisioning.cycle.options import RunOptions
from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.mapping import CompiledMapping, compile_mappings
from provisioning.engine.matching import MatchRule
from provisioning.engine.scoping import ScopingFilter
from provisioning.engine.vocabulary import ObjectType
from provisioning.state.store import StateStore


@dataclass(frozen=True)
class ObjectRules:
    """Compiled config of one object type (users or groups). ``unique_rules`` are the mapped
    attributes the app keeps unique (a SCIM userName) that are not matching rules: two objects
    sharing a value are a conflict, and an interrupted create is looked up by them too.
    ``unique_paths`` are all the mapped paths the app keeps unique, matching rules or not: an app
    that refuses a second object with such a value cannot be made to hold one object twice."""

    mappings: list[CompiledMapping]
    paths: dict[str, AttributePath]
    rules: list[MatchRule]
    filters: list[ScopingFilter]
    unique_rules: list[MatchRule]
    unique_paths: frozenset[str]

    @classmethod
    def compile(cls, section: ObjectProvisioning, target: TargetConfig, object_type: str) -> ObjectRules:
        paths = {m.target: target.attribute_path(m.target, object_type) for m in section.mappings}
        by_name = {text.lower(): path for text, path in paths.items()}
        rules = [
            MatchRule(
                by_name[r.target.strip().lower()],
                target.case_sensitive_by_default(r.target) if r.case_sensitive is None else r.case_sensitive,
            )
            for r in section.matching
        ]
        asked = {r.path.text.lower() for r in rules}
        kept_unique = [name for name in target.unique_attributes(object_type) if name in by_name]
        unique = [MatchRule(by_name[name], case_sensitive=False) for name in kept_unique if name not in asked]
        return cls(
            compile_mappings(section.mappings),
            paths,
            rules,
            section.scoping_filters(),
            unique,
            frozenset(text for text in paths if text.lower() in kept_unique),
        )

    @property
    def lookup_rules(self) -> list[MatchRule]:
        return self.rules + self.unique_rules


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
        target = self.config.target
        self.users = ObjectRules.compile(self.config.users, target, ObjectType.USER)
        groups = self.config.groups
        self.groups = ObjectRules.compile(groups, target, ObjectType.GROUP) if groups else None

    def connector(self) -> AppConnector:
        """The step's app connector, opened on first use (opening sends no request)."""
        if self._connector is None:
            self._connector = self.open_app()
        return self._connector

    def close(self) -> None:
        """Close the connector if the step opened one (its HTTP connections, an LDAP bind)."""
        if self._connector is not None:
            self._connector.close()
            self._connector = None

    def __enter__(self) -> CycleContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def app(self) -> str:
        return self.config.app
