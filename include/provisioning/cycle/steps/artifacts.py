"""What one step hands to the later ones: artifacts in the state store, not task memory.

Steps run as separate Airflow tasks, possibly on other workers and possibly rerun alone, so every
step reads what it needs back from the store under these names instead of trusting an XCom.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provisioning.cycle.context import CycleContext
from provisioning.engine.desired import DesiredUser
from provisioning.engine.desired_groups import DesiredGroup
from provisioning.engine.strings import OneCopy

DESIRED_USERS = "desired_users"
DESIRED_GROUPS = "desired_groups"
DIRECTORY_COUNTS = "directory_counts"  # what the collapse guard compares with healthy cycles
# How many example objects a step's summary (its XCom) names per count.
SAMPLE_SIZE = 5


def resume(ctx: CycleContext) -> None:
    """A step runs only after the steps before it succeeded, so an error recorded on the cycle came
    from this step or a later one in an earlier attempt: a rerun (a cleared task) starts clean."""
    ctx.store.start_cycle(ctx.app, ctx.cycle_id)


def load_desired_users(ctx: CycleContext) -> list[DesiredUser]:
    return [DesiredUser(**r) for r in _records(ctx, DESIRED_USERS)]


def load_desired_groups(ctx: CycleContext) -> list[DesiredGroup]:
    return [DesiredGroup(**r) for r in _records(ctx, DESIRED_GROUPS)]


def _records(ctx: CycleContext, name: str) -> Iterator[dict[str, Any]]:
    """The stored desired objects one at a time, each distinct string kept once (OneCopy): as
    records are decoded one at a time the decoded copies are never all held together."""
    once = OneCopy()
    for r in ctx.store.artifact_items(ctx.app, ctx.cycle_id, name):
        r.update(
            source_id=once(r["source_id"]),
            display=once(r["display"]),
            attributes=once.mapping(r["attributes"]),
        )
        if "members" in r:
            r["members"] = [once(m) for m in r["members"]]
        yield r
