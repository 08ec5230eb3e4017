"""apply split into partitions (``target.partitions``): run at once, as mapped tasks on several
workers would, they carry out the whole plan exactly once; groups and memberships follow only when
every partition got through; a retried partition fences off only its own stale attempt."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from provisioning.cycle import steps
from provisioning.engine.partitions import Partition
from provisioning.state.leases import LeaseLost
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    Harness,
    directory_groups,
    expected_members,
)

COUNT = 4


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    return harness


def partitioned_cycle(harness: Harness, run: range = range(COUNT)) -> dict:
    """A cycle as the DAG runs a partitioned apply: the partitions in ``run`` at once, each with a
    context (and connector) of its own, then apply_groups and report."""
    harness.cycles += 1
    cycle_id = f"cycle-{harness.cycles}"
    with harness.context(cycle_id) as ctx:
        plan = {step.__name__: step(ctx) for step in (steps.extract_assignments, steps.match, steps.diff)}

    def partition(index: int) -> dict:
        with harness.context(cycle_id) as ctx:
            return steps.apply(ctx, Partition(index, COUNT))

    with ThreadPoolExecutor(COUNT) as pool:
        applied = list(pool.map(partition, run))
    with harness.context(cycle_id) as ctx:
        return {
            **plan,
            "partitions": applied,
            "groups": steps.apply_groups(ctx, COUNT),
            "report": steps.report(ctx),
        }


def assert_app_is_exact(harness: Harness) -> None:
    names = Counter(u["userName"].lower() for u in harness.scim_app.users())
    assert set(names) == set(harness.expected_wiki_users().index) and max(names.values()) == 1
    groups = harness.scim_app.groups()
    wanted = directory_groups(harness)
    assert set(groups) == set(wanted.values())
    for group_id, name in wanted.items():
        assert harness.scim_app.member_names(groups[name]) == expected_members(harness, group_id), name


def test_partitions_at_once_carry_out_the_whole_plan_once_then_groups(harness):
    result = partitioned_cycle(harness)
    creates = result["diff"]["counts"]["create"]
    assert result["report"]["status"] == "succeeded"
    assert sum(p["attempted"] for p in result["partitions"]) == creates
    assert all(p["attempted"] > 0 for p in result["partitions"])  # the hash spreads the users
    assert [p["partition"] for p in result["partitions"]] == [f"{i + 1} of {COUNT}" for i in range(COUNT)]
    assert result["groups"]["failed"] == 0 and result["groups"]["attempted"] > 0
    assert [(p["partition"], p["status"]) for p in result["report"]["partitions"]] == [
        (i, "succeeded") for i in range(COUNT)
    ]
    assert_app_is_exact(harness)

    harness.scim_app.proxy.reset()
    again = partitioned_cycle(harness)
    assert again["report"]["status"] == "succeeded"
    assert harness.scim_app.proxy.writes() == []


def test_groups_wait_until_every_partition_got_through(harness):
    first = partitioned_cycle(harness, run=range(COUNT - 1))  # the last partition's task never ran
    assert first["groups"] == {"attempted": 0, "succeeded": 0, "failed": 0, "partitions_not_through": 1}
    assert harness.scim_app.groups() == {}
    assert first["report"]["status"] == "failed"
    assert f"apply partition {COUNT} of {COUNT} did not run" in first["report"]["error"]
    assert first["report"]["not_applied"] > 0

    second = partitioned_cycle(harness)  # the next cycle plans what was left, nothing twice
    assert second["report"]["status"] == "succeeded"
    assert_app_is_exact(harness)


def test_a_retried_partition_fences_off_its_stale_attempt_and_no_other(harness):
    with harness.context("cycle-1") as ctx:
        for step in (steps.extract_assignments, steps.match, steps.diff):
            step(ctx)
    leases, ttl = harness.store.leases, timedelta(minutes=5)
    stale = leases.try_acquire_partition("demo_wiki", "cycle-1", 1, COUNT, ttl)
    sibling = leases.try_acquire_partition("demo_wiki", "cycle-1", 2, COUNT, ttl)
    retry = leases.try_acquire_partition("demo_wiki", "cycle-1", 1, COUNT, ttl)
    assert stale and sibling and retry and retry.token == stale.token + 1
    rows = harness.store.open_actions("demo_wiki", "cycle-1")
    mine = [r.change_id for r in rows if Partition(1, COUNT).owns(r.source_id)]
    theirs = [r.change_id for r in rows if Partition(2, COUNT).owns(r.source_id)]
    with pytest.raises(LeaseLost, match="taken over"):
        harness.store.mark_in_flight(mine[:1], stale)
    harness.store.mark_in_flight(theirs[:1], sibling)  # the sibling's attempt goes on
    harness.store.mark_in_flight(mine[:1], retry)
    # another run cannot join while this one holds the run lease
    assert leases.try_acquire_partition("demo_wiki", "cycle-2", 0, COUNT, ttl) is None
    # the steps after the partitions fence every partition off
    leases.fence_partitions("demo_wiki", "cycle-1")
    with pytest.raises(LeaseLost):
        harness.store.mark_in_flight(theirs[1:2], sibling)


@pytest.mark.parametrize("index,count", [(-1, 2), (2, 2), (0, 0)])
def test_a_partition_outside_its_count_is_refused(index, count):
    with pytest.raises(ValueError, match="does not exist"):
        Partition(index, count)
