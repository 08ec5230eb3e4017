"""One app-wide brake shared by every request thread of a client.

A 429 tells us the *app* is overloaded, not one request: if each thread only backed off its
own retry, the other threads would keep hitting the limit. So a 429 pauses every thread until
its ``Retry-After`` (or a growing backoff when the app sends none) and halves the request rate;
successes bring the rate back up step by step, never above the configured cap.
"""

from __future__ import annotations

import threading
import time
from collections import deque

# Without a configured cap, a 429 sets one from the rate observed over this window.
OBSERVE_SECONDS = 2.0
MIN_RATE = 0.5  # requests per second: the slowest a throttled app is driven
QUIET_RATE = 4.0  # below this many requests per second a 429 only pauses, it sets no rate
RECOVERY = 1.05  # rate multiplier per successful request
FIRST_PAUSE = 1.0  # seconds, when a 429 carries no Retry-After; doubles while 429s keep coming
MAX_PAUSE = 60.0


class Throttle:
    def __init__(self, requests_per_second: float | None = None):
        self.cap = requests_per_second
        self.rate = requests_per_second  # current allowed rate; None = unlimited
        self._lock = threading.Lock()
        self._next_slot = 0.0  # monotonic time the next request may start
        self._paused_until = 0.0
        self._pause = FIRST_PAUSE
        self._sent: deque[float] = deque()
        self.throttled = 0  # 429s seen, for the cycle summary

    def acquire(self) -> None:
        """Block until this thread may send: after any pause, and spaced by the current rate."""
        while True:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._paused_until, self._next_slot if self.rate else 0.0)
                if start <= now:
                    if self.rate:
                        self._next_slot = now + 1.0 / self.rate
                    self._sent.append(now)
                    while self._sent and self._sent[0] < now - OBSERVE_SECONDS:
                        self._sent.popleft()
                    return
            time.sleep(min(start - now, 1.0))

    def slow_down(self, retry_after: float | None) -> None:
        """A 429: pause everyone and halve the rate."""
        with self._lock:
            now = time.monotonic()
            self.throttled += 1
            pause = retry_after if retry_after is not None else self._pause
            self._pause = min(self._pause * 2, MAX_PAUSE)
            self._paused_until = max(self._paused_until, now + pause)
            current = self.rate or len(self._sent) / OBSERVE_SECONDS
            if current >= QUIET_RATE:  # a quiet client did not cause the 429: the pause is enough
                self.rate = max(MIN_RATE, current / 2)

    def succeeded(self) -> None:
        with self._lock:
            self._pause = FIRST_PAUSE
            if self.rate is not None:
                raised = self.rate * RECOVERY
                # without a cap, once well above what the app is asked for, stop limiting
                self.rate = None if self.cap is None and raised > 1000 else min(raised, self.cap or raised)
