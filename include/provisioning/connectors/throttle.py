"""One app-wide brake shared by every request thread of a client, that learns the app's rate.

Why every thread: a 429 says the *app's* budget is spent, not that one request was unlucky; if
only the refused thread waited, the others would keep spending the next budget. So a 429 pauses
every thread until its ``Retry-After`` (or a backoff growing per 429 episode when it sends none).

Why learn rather than halve: halving on each 429 and creeping back per success drove an app that
allows 20 requests/s at 7-15/s, with 429s all the way. What the app accepted *between two 429s*
is its rate: its budget was empty at both moments, so whatever it let through in between is
what it refilled meanwhile, whether it meters by token bucket or by fixed or sliding window. So
the second 429 measures the rate and the throttle then paces requests just below it, where the
app never has to refuse. A 429 after a long quiet spell at that pace means the budget shrank a
little, or the latest probe overshot: back to the rate before the probe, and one small step
down, not half.

Why probe: the measurement can be low. An app whose ``Retry-After`` outlasts what it lets
through in a burst (a small bucket, a header rounded up to whole seconds) wastes part of each
pause, and an app may gain budget. So after a long quiet spell held back by the pace, the rate
goes up a little; each probe that holds makes the next one bolder, so a low measurement is
outgrown in minutes while a good one costs an occasional 429.

The measurement counts requests by when they were *sent*, and is taken once the pause is over:
a 429 comes back at once while the requests sent just before it, which the app accepted, are
still being processed; counting answers as they arrive would miss them.

429s that answer requests sent before the first 429 of an episode arrived (the other threads'
requests already on the wire) are the same spent budget: counted in ``throttled``, but they
neither measure nor lengthen the backoff.

A configured cap is never exceeded, whatever was learned; a ``RateShare`` spreads pauses and the
learned rate to the clients of the same app in other processes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from provisioning.connectors.rate_share import RateShare

PACE = 0.93  # of the learned rate: the margin absorbs a measurement a little too high
LEARN_SECONDS = 10.0  # a 429 this soon after the previous pause ended measures the rate
MIN_SAMPLE = 5  # accepted requests a measurement needs; fewer say nothing about a rate
STEP_DOWN = 0.05  # a 429 after a quiet spell lowers the learned rate by this share
PROBE_AFTER = 20.0  # seconds the learned rate stayed put, holding requests back, before a probe
PROBE_STEP = 0.05  # the first probe raises the learned rate by this share; each one that holds, twice
MAX_PROBE_STEP = 0.4
FIRST_PAUSE = 1.0  # seconds, when a 429 carries no Retry-After; doubles per episode while they continue
MAX_PAUSE = 60.0
SHARE_POLL_SECONDS = 1.0


class Clock(Protocol):
    """The ``time`` module, or a fake one in tests."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float, /) -> None: ...


@dataclass
class _Span:
    """Requests sent since a 429 episode began: what the next episode measures the rate over."""

    start: float  # the refused request that began the episode was sent
    resumed: float  # the episode's pause ended
    accepted: int = 0


class Throttle:
    def __init__(
        self,
        requests_per_second: float | None = None,
        share: RateShare | None = None,
        clock: Clock = time,
    ):
        self.cap = requests_per_second
        self.learned: float | None = None  # the app's rate as measured; None until two 429s
        self.throttled = 0  # 429s seen, for the cycle summary
        self._share = share
        self._clock = clock
        self._lock = threading.Lock()
        self._next_slot = 0.0  # monotonic time the next request may start
        self._paused_until = 0.0
        self._pause = FIRST_PAUSE
        self._episode: float | None = None  # when the latest episode's first 429 arrived
        self._open: _Span | None = None  # since the latest episode
        self._closed: tuple[_Span, float] | None = None  # the span before it, and when it ended
        self._changed_at = clock.monotonic()  # the learned rate last moved
        self._probe_step = PROBE_STEP
        self._before_probe: float | None = None  # the learned rate the latest probe started from
        self._polled_at = float("-inf")
        self._shared_rate: float | None = None  # the share's rate we last saw or told

    @property
    def rate(self) -> float | None:
        """Requests per second currently allowed: just under the learned rate, never over the cap."""
        paced = self.learned * PACE if self.learned else None
        if paced is None or self.cap is None:
            return paced or self.cap
        return min(paced, self.cap)

    def acquire(self) -> float:
        """Block until this thread may send (after any pause, spaced by the rate); the send time,
        which ``accepted`` and ``slow_down`` are given back."""
        while True:
            self._poll_share()
            with self._lock:
                now = self._clock.monotonic()
                rate = self.rate
                start = max(now, self._paused_until, self._next_slot if rate else 0.0)
                if start <= now:
                    measured = self._measure(now)
                    rate = self.rate
                    if rate:
                        self._next_slot = now + 1.0 / rate
                    break
                if start == self._next_slot > self._paused_until:
                    self._probe(now)
            self._clock.sleep(min(start - now, SHARE_POLL_SECONDS))
        if measured:
            self._tell()
        return now

    def accepted(self, sent: float) -> None:
        """Any answer but a 429 to a request sent at ``sent``: the app spent budget on it."""
        with self._lock:
            self._pause = FIRST_PAUSE
            if self._open is not None and sent > self._open.start:
                self._open.accepted += 1
            elif self._closed is not None and sent > self._closed[0].start:
                self._closed[0].accepted += 1

    def slow_down(self, retry_after: float | None, sent: float) -> None:
        """A 429 for a request sent at ``sent``: pause everyone; a new episode also measures."""
        with self._lock:
            now = self._clock.monotonic()
            self.throttled += 1
            if self._episode is not None and sent <= self._episode:
                if retry_after is not None:
                    self._paused_until = max(self._paused_until, now + retry_after)
                return
            self._episode = now
            pause = retry_after if retry_after is not None else self._pause
            self._pause = min(self._pause * 2, MAX_PAUSE)
            self._paused_until = max(self._paused_until, now + pause)
            previous, self._open = self._open, _Span(sent, self._paused_until)
            if previous is not None and now - previous.resumed <= LEARN_SECONDS:
                self._closed = (previous, sent)  # measured once its last answers are in
            elif self.learned is not None:  # a probe overshot or the budget shrank a little
                self.learned = (self._before_probe or self.learned) * (1 - STEP_DOWN)
            self._changed_at = now
            self._before_probe, self._probe_step = None, PROBE_STEP
        self._tell()

    def _measure(self, now: float) -> bool:
        """After a pause: the rate over the span two 429s closed, if it holds enough to go on."""
        if self._closed is None:
            return False
        span, end = self._closed
        self._closed = None
        if span.accepted < MIN_SAMPLE:
            return False
        self.learned = span.accepted / (end - span.start)
        self._changed_at = now
        return True

    def _probe(self, now: float) -> None:
        """The learned pace (not the cap) holds requests back and has not moved for long: try a
        little faster."""
        if self.learned is None or (self.cap is not None and self.learned * PACE >= self.cap):
            return
        if now - self._changed_at >= PROBE_AFTER:
            if self._before_probe is not None:  # the previous probe held: bolder
                self._probe_step = min(self._probe_step * 2, MAX_PROBE_STEP)
            self._before_probe = self.learned
            self.learned *= 1 + self._probe_step
            self._changed_at = now

    def _tell(self) -> None:
        """Publish the learned rate and the pause (as wall-clock time) to the other processes."""
        if self._share is None:
            return
        with self._lock:
            self._shared_rate = self.learned
            told = (self.learned, self._clock.time() + self._paused_until - self._clock.monotonic())
        self._share.publish(*told)

    def _poll_share(self) -> None:
        """At most once a second: adopt the pause and the rate other processes published."""
        if self._share is None:
            return
        with self._lock:
            now = self._clock.monotonic()
            if now - self._polled_at < SHARE_POLL_SECONDS:
                return
            self._polled_at = now
        rate, paused_until = self._share.observe()
        with self._lock:
            now, wall = self._clock.monotonic(), self._clock.time()
            self._paused_until = max(self._paused_until, now + paused_until - wall)
            if rate is not None and rate != self._shared_rate:
                self._shared_rate = self.learned = rate
                self._changed_at = now
                self._before_probe, self._probe_step = None, PROBE_STEP
