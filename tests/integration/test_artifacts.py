"""Artifacts read item by item (the diff's desired users) give what the whole read gives, and a list
written item by item (the extract's desired users) is stored as the whole list would be."""

from pathlib import Path

import pytest

from provisioning.state import StateStore, cycles
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


@pytest.mark.parametrize("count", [0, 1, 2500])  # none, one, and batches with a part batch last
def test_a_list_written_item_by_item_is_stored_as_the_whole_list(tmp_path: Path, count: int) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)
    value = [
        {"source_id": f"u{i}", "attributes": {"title": 'Dév, "lead" ]', "n": [i, None]}} for i in range(count)
    ]
    size = store.put_artifact_items("app", "c1", "desired_users", iter(value))
    assert list(store.artifact_items("app", "c1", "desired_users")) == value
    assert store.get_artifact("app", "c1", "desired_users") == value
    assert size == len(cycles.encode_items(value))


def test_a_missing_artifact_says_to_rerun_the_earlier_steps(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)
    with pytest.raises(LookupError, match="rerun the earlier steps"):
        store.artifact_items("app", "c1", "desired_users")
