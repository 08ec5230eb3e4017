"""Outcomes recorded as apply records them, many to a transaction, in a real SQLite state store:
each object's escrow entry follows its own outcomes, whatever else shares the batch."""

from __future__ import annotations

from provisioning.engine.outbox import Outcome
from provisioning.engine.plan import PlannedAction
from provisioning.engine.vocabulary import Action, LogStatus, ObjectType, OutboxStatus
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema

APP = "wiki"


def user(name: str) -> PlannedAction:
    return PlannedAction(
        action=Action.CREATE,
        source_id=f"id-{name}",
        display=f"{name}@contoso.example",
        target_id=None,
        payload={"attributes": {"userName": f"{name}@contoso.example"}, "active": True},
        attributes={"userName": f"{name}@contoso.example"},
        active=True,
    )


def members(action: Action, group: str, payload: list) -> PlannedAction:
    return PlannedAction(
        action=action,
        source_id=group,
        display=group,
        target_id="g-app-1",
        payload={"members": payload},
        attributes={},
        active=True,
        object_type=ObjectType.MEMBERSHIP,
    )


def failed(change_id: str) -> Outcome:
    return Outcome(
        change_id=change_id, status=OutboxStatus.FAILED, error_code="Rejected", error_message="refused"
    )


def succeeded(change_id: str) -> Outcome:
    return Outcome(change_id=change_id, status=OutboxStatus.SUCCEEDED, target_id=f"app-{change_id[:8]}")


def record(store: StateStore, cycle_id: str, actions: list[PlannedAction], outcome_of) -> None:
    """One cycle whose outcomes are all recorded in one batch, as apply records them."""
    store.write_plan(APP, cycle_id, actions)
    rows = {r.change_id: r for r in store.open_actions(APP, cycle_id)}
    store.mark_in_flight(list(rows))
    store.record_outcomes(APP, cycle_id, rows, [outcome_of(r) for r in rows.values()])


def test_a_batch_lets_succeeded_objects_out_of_escrow_and_keeps_failed_ones_in(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)
    names = ["ana", "ben", "cy", "dee"]
    record(store, "c1", [user(n) for n in names], lambda r: failed(r.change_id))
    assert {source for _, source in store.escrow(APP)} == {f"id-{n}" for n in names}

    # the next cycle: ana and cy go through, ben and dee fail again, all in one batch
    record(
        store,
        "c2",
        [user(n) for n in names],
        lambda r: succeeded(r.change_id) if r.source_id in ("id-ana", "id-cy") else failed(r.change_id),
    )
    escrowed = store.escrow(APP)
    assert {source for _, source in escrowed} == {"id-ben", "id-dee"}
    assert all(entry["failures"] == 2 for entry in escrowed.values())
    assert set(store.links(APP)) == {"id-ana", "id-cy"}
    log = {(r["cycle_id"], r["source_display"]): r["status"] for r in store.log(APP)}
    assert log[("c2", "ana@contoso.example")] == LogStatus.SUCCESS
    assert log[("c2", "ben@contoso.example")] == LogStatus.FAILURE


def test_an_object_whose_actions_fail_and_succeed_in_one_batch_stays_in_escrow(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)
    actions = [
        members(Action.ADD_MEMBERS, "grp-eng", ["id-ana"]),
        members(Action.REMOVE_MEMBERS, "grp-eng", [["id-ben", "app-ben"]]),
    ]
    record(
        store,
        "c1",
        actions,
        lambda r: failed(r.change_id) if r.action == Action.ADD_MEMBERS else succeeded(r.change_id),
    )
    (entry,) = store.escrow(APP).values()
    assert (entry["object_type"], entry["source_id"]) == (ObjectType.MEMBERSHIP, "grp-eng")
    assert entry["error_message"] == "refused"
