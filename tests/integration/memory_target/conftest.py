"""The in-memory target's harness, over a real SQLite directory and state store."""

import pytest

from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS
from tests.integration.memory_harness import MemoryHarness


@pytest.fixture
def harness(directory_db, tmp_path):
    return MemoryHarness(directory_db, tmp_path / "state.db")


@pytest.fixture
def with_groups(harness):
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    return harness
