"""Cycles of the real steps against the in-memory target (tests/support/memory_target.py): the
integration Harness's directory, app config and state store, with a MemoryTarget as the app."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from provisioning.connectors.directory.registry import open_source
from provisioning.cycle.context import CycleContext
from provisioning.engine.vocabulary import ObjectType
from tests.integration.cycle_helpers import Harness
from tests.support.memory_target import Call, MemoryTarget, mapped_paths

USER, GROUP = ObjectType.USER, ObjectType.GROUP
# the demo config's mapped paths, which the memory target keeps as opaque texts
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EMAIL = 'emails[type eq "work"].value'


class MemoryHarness(Harness):
    """The Harness's directory, app config and state store; the app is a MemoryTarget."""

    def __init__(self, directory: Path, state: Path, **target_options):
        super().__init__(directory, None, state)  # no SCIM app
        self.target = MemoryTarget(mapped_paths(self.config), **target_options)

    def configure(self, **sections) -> None:
        super().configure(**sections)
        self.target.paths = mapped_paths(self.config)

    def context(self, cycle_id: str) -> CycleContext:
        return CycleContext(
            self.config,
            cycle_id,
            self.store,
            lambda: open_source(self.config.directory, self.connection, self.config.app),
            lambda: self.target,
            self.options,
        )

    def users(self) -> dict[str, dict]:
        """userName -> what the app holds: the mapped attributes, ``active`` and ``id``."""
        return {
            o.attributes["userName"]: {**o.attributes, "active": o.active, "id": o.id}
            for o in self.target.objects(USER).values()
        }

    def user_names(self) -> Counter:
        """How many accounts hold each userName (a duplicate counts twice)."""
        return Counter(o.attributes["userName"].lower() for o in self.target.objects(USER).values())

    def users_by_id(self) -> dict[str, str]:
        """App id -> userName."""
        return {o.id: o.attributes["userName"] for o in self.target.objects(USER).values()}

    def member_names(self, group_name: str) -> set[str]:
        names = self.users_by_id()
        return {names[m] for m in self.target.by(GROUP, "displayName")[group_name].members}


def verbs(calls: list[Call]) -> Counter:
    """How many calls of each verb on each object type."""
    return Counter((c.verb, c.object_type) for c in calls)
