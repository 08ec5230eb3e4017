"""What the clients of one app in several processes tell each other about its rate limit.

One app's apply may run as several partitions on several workers, all drawing on the app's one
budget: a 429 seen by any of them means the budget is spent for all of them, and a rate one of
them has learned is the best guess for the others. A ``Throttle`` given a share publishes what it
learns and polls what the others published, about once a second (never per request: a share may
be a network round trip away). Times are wall-clock epoch seconds, since monotonic clocks differ
between machines.
"""

from __future__ import annotations

import threading
from typing import Protocol


class RateShare(Protocol):
    def publish(self, rate: float | None, paused_until: float) -> None:
        """Tell the others: the rate this client learned (None: it learned none, keep yours) and
        until when the app asked everyone to wait."""

    def observe(self) -> tuple[float | None, float]:
        """The last rate anyone published (None: none yet) and the latest pause anyone asked for."""


class InMemoryRateShare:
    """The share of clients in one process, for tests and single-worker runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._paused_until = 0.0

    def publish(self, rate: float | None, paused_until: float) -> None:
        with self._lock:
            if rate is not None:
                self._rate = rate
            self._paused_until = max(self._paused_until, paused_until)

    def observe(self) -> tuple[float | None, float]:
        with self._lock:
            return self._rate, self._paused_until
