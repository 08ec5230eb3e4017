import gc

import pytest

from provisioning.cycle import steps
from provisioning.cycle.steps.bulk import collector_paused


def test_the_collector_is_paused_for_the_step_and_back_on_after_it_however_it_ends():
    seen = []

    @collector_paused
    def step(fail: bool) -> str:
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("the step failed")
        return "summary"

    assert step(False) == "summary"
    with pytest.raises(RuntimeError, match="the step failed"):
        step(True)
    assert seen == [False, False] and gc.isenabled()


def test_a_caller_that_paused_it_keeps_it_paused():
    @collector_paused
    def step() -> None:
        pass

    gc.disable()
    try:
        step()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("name", ["extract_assignments", "match", "diff"])
def test_the_steps_that_hold_a_whole_directory_pause_it(name):
    step = getattr(steps, name)
    assert step.__code__ is collector_paused(print).__code__ and step.__wrapped__.__name__ == name
