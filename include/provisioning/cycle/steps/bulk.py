"""Steps that hold a whole directory in memory run with Python's cyclic garbage collector paused.

Their millions of dicts, lists and desired objects are freed by reference counting alone (none of
them form cycles), yet each full collection walks every one of them again, and there are several
while the objects pile up: at 1,000,000 users the collector took 18 s of the 128 s that
``extract_assignments``, ``match`` and ``diff`` took together. It is switched back on when the
step ends, however it ends.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def collector_paused(step: Callable[..., Result]) -> Callable[..., Result]:
    @functools.wraps(step)
    def run(*args, **kwargs) -> Result:
        if not gc.isenabled():  # paused by a caller already: it switches it back on
            return step(*args, **kwargs)
        gc.disable()
        try:
            return step(*args, **kwargs)
        finally:
            gc.enable()

    return run
