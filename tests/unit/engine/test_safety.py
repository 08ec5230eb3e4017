from datetime import timedelta

from provisioning.engine.safety import (
    decide_quarantine,
    escrow_delay,
    fingerprint,
    quarantine_delay,
)


def test_escrow_retries_next_cycle_then_backs_off_to_a_day():
    assert [escrow_delay(n, permanent=False) for n in (1, 2, 3, 4)] == [
        timedelta(0),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=2),
    ]
    assert escrow_delay(30, permanent=False) == timedelta(days=1)
    assert escrow_delay(1, permanent=True) == timedelta(hours=6)  # not hammered every cycle
    assert escrow_delay(5, permanent=True) == timedelta(days=1)


def test_a_changed_payload_has_another_fingerprint():
    assert fingerprint("create", {"a": 1, "b": 2}) == fingerprint("create", {"b": 2, "a": 1})
    assert fingerprint("create", {"a": 1}) != fingerprint("create", {"a": 2})
    assert fingerprint("create", {"a": 1}) != fingerprint("update", {"a": 1})


def test_quarantine_on_refusal_or_a_failing_majority_past_a_minimum():
    args = {"failure_ratio": 0.4, "min_actions": 10}
    assert decide_quarantine(attempted=0, failed=0, app_error="401", **args).quarantine
    assert not decide_quarantine(attempted=9, failed=9, app_error=None, **args).quarantine
    assert not decide_quarantine(attempted=10, failed=4, app_error=None, **args).quarantine
    decision = decide_quarantine(attempted=10, failed=5, app_error=None, **args)
    assert decision.quarantine and decision.reason == "5 of 10 actions failed (50%, over 40%)"


def test_quarantine_backoff_doubles_up_to_a_day():
    assert [quarantine_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(minutes=80),
    ]
    assert quarantine_delay(20) == timedelta(days=1)
