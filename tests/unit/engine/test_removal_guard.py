from provisioning.engine.plan import PlannedAction
from provisioning.engine.removal_guard import (
    Collapse,
    Threshold,
    TypeCount,
    collapses,
    held_types,
    removal_keys,
)
from provisioning.engine.vocabulary import Action, ObjectType

POLICY = Threshold(
    enabled=True, max_count=500, max_percent=30.0, min_count=10, window_hours=24, collapse_ratio=0.5
)


def held(planned, base, recent=0, shrunk=(), **overrides):
    policy = Threshold(**{**POLICY.__dict__, **overrides})
    return held_types([TypeCount(ObjectType.USER, planned, recent, base)], list(shrunk), policy).get(
        ObjectType.USER
    )


def test_the_threshold_counts_and_percent_per_cycle():
    assert held(0, 1000) is None
    assert held(9, 10) is None  # below min_count: small apps are not held
    assert "10 (50% of 20) in this cycle exceed the accidental-deletion threshold (500 or 30%)" in held(
        10, 20
    )
    assert held(100, 1000) is None  # 10%
    assert held(501, 10000) is not None
    assert held(600, 10000, enabled=False) is None


def test_a_slow_leak_adds_up_over_the_window():
    assert held(200, 800) is None  # 25% in one cycle
    reason = held(150, 600, recent=200)  # 350 of 800 over the window
    assert reason and "with 200 applied in the last 24 h, 350 (44% of 800)" in reason


def test_a_collapse_holds_even_with_the_threshold_off():
    shrunk = collapses({"users": 400, "memberships": 0}, {"users": 1000, "memberships": 463}, 0.5)
    assert shrunk == [Collapse("users", 400, 1000), Collapse("memberships", 0, 463)]
    reason = held(3, 1000, shrunk=shrunk, enabled=False)
    assert (
        "the directory's users fell to 400 from 1000; the directory's memberships fell to 0 from 463"
        in reason
    )
    assert collapses({"users": 600}, {"users": 1000}, 0.5) == []
    assert collapses({"users": 0}, {}, 0.5) == []  # no healthy cycle yet: nothing to compare


def test_each_object_type_is_counted_alone():
    counts = [TypeCount(ObjectType.USER, 5, 0, 1000), TypeCount(ObjectType.MEMBERSHIP, 463, 0, 463)]
    assert set(held_types(counts, [], POLICY)) == {ObjectType.MEMBERSHIP}


def test_units_of_removal_are_accounts_and_single_members():
    disable = PlannedAction(Action.DISABLE, "u1", "u1", "a1", {}, {}, False)
    remove = PlannedAction(
        Action.REMOVE_MEMBERS,
        "g1",
        "g1",
        "G1",
        {"members": [["u1", "a1"], ["u2", "a2"]]},
        {},
        True,
        object_type=ObjectType.MEMBERSHIP,
    )
    replace = PlannedAction(
        Action.REPLACE_MEMBERS,
        "g2",
        "g2",
        "G2",
        {"members": ["u3"], "removed": ["u4"]},
        {},
        True,
        object_type=ObjectType.MEMBERSHIP,
    )
    assert removal_keys(disable) == [(ObjectType.USER, "u1", Action.DISABLE, "")]
    assert removal_keys(remove) == [
        (ObjectType.MEMBERSHIP, "g1", Action.REMOVE_MEMBERS, "u1"),
        (ObjectType.MEMBERSHIP, "g1", Action.REMOVE_MEMBERS, "u2"),
    ]
    assert removal_keys(replace) == [(ObjectType.MEMBERSHIP, "g2", Action.REPLACE_MEMBERS, "u4")]
