"""Artifacts read item by item (the diff's desired users) give what the whole read gives."""

from pathlib import Path

import pytest

from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema


@pytest.mark.parametrize(
    "value",
    [[], [{"source_id": "u1", "attributes": {"title": 'Dev, "lead" ]', "n": [1, {}]}}, None, "x", 2.5]],
)
def test_items_read_one_at_a_time_equal_the_stored_list(tmp_path: Path, value: list) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)
    store.put_artifact("app", "c1", "desired_users", value)
    assert list(store.artifact_items("app", "c1", "desired_users")) == value
    assert store.get_artifact("app", "c1", "desired_users") == value


def test_a_missing_artifact_says_to_rerun_the_earlier_steps(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)
    with pytest.raises(LookupError, match="rerun the earlier steps"):
        store.artifact_items("app", "c1", "desired_users")
