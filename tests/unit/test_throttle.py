"""The throttle's learning, on a fake clock: deterministic, and minutes of traffic in milliseconds.

``Simulation`` stands in for both sides of the wire (a real app cannot run on a fake clock): an
app metering requests by token bucket, answering 429 with ``Retry-After`` rounded up to whole
seconds as HTTP requires, and a client keeping ``in_flight`` requests on the wire through one
throttle, as apply's threads do. tests/integration/test_rate_limit.py drives the real client
through the real proxy.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from provisioning.connectors.rate_share import InMemoryRateShare, RateShare
from provisioning.connectors.throttle import FIRST_PAUSE, Throttle

EPOCH = 1_700_000_000.0


class FakeClock:
    """Time moves only when someone sleeps; answers due meanwhile are delivered on the way."""

    def __init__(self) -> None:
        self.now = 0.0
        self.due: list[tuple[float, int, Callable[[], None]]] = []  # (when, order, callback)
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    def sleep(self, seconds: float) -> None:
        self.advance_to(self.now + seconds)

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self.due, (when, next(self._order), callback))

    def advance_to(self, when: float) -> None:
        while self.due and self.due[0][0] <= when:
            at, _, callback = heapq.heappop(self.due)
            self.now = max(self.now, at)
            callback()
        self.now = max(self.now, when)


@dataclass
class Simulation:
    per_second: float
    burst: float | None = None
    retry_after: bool = True
    cap: float | None = None
    in_flight: int = 8
    latency: float = 0.01  # an accepted request's answer; a 429 comes back at once
    share: RateShare | None = None
    clock: FakeClock = field(default_factory=FakeClock)
    sent: list[tuple[float, bool]] = field(default_factory=list)  # (when, accepted)

    def __post_init__(self) -> None:
        self.throttle = Throttle(self.cap, self.share, self.clock)
        self.tokens = self.burst or self.per_second
        self.refilled_at = 0.0
        self.waiting = 0

    def admit(self, now: float) -> float | None:
        """The app's token bucket: None to accept, else seconds until a token."""
        burst = self.burst or self.per_second
        self.tokens = min(burst, self.tokens + (now - self.refilled_at) * self.per_second)
        self.refilled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.per_second

    def run(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            if self.waiting >= self.in_flight:
                self.clock.advance_to(self.clock.due[0][0])
                continue
            sent = self.throttle.acquire()
            wait = self.admit(sent)
            self.sent.append((sent, wait is None))
            self.waiting += 1
            if wait is None:
                self.clock.at(sent + self.latency, lambda sent=sent: self._answer(sent, None))
            else:
                header = math.ceil(wait) if self.retry_after else None
                self.clock.at(sent + 0.002, lambda sent=sent, h=header: self._answer(sent, h, refused=True))
            self.clock.advance_to(sent + 0.001)  # a thread's own work between requests

    def _answer(self, sent: float, retry_after: float | None, refused: bool = False) -> None:
        self.waiting -= 1
        if refused:
            self.throttle.slow_down(retry_after, sent)
        else:
            self.throttle.accepted(sent)

    def accepted_rate(self, start: float, end: float) -> float:
        return sum(1 for at, ok in self.sent if ok and start <= at < end) / (end - start)

    def refused(self, start: float, end: float = math.inf) -> int:
        return sum(1 for at, ok in self.sent if not ok and start <= at < end)


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
@pytest.mark.parametrize("per_second", [5, 20, 200])
def test_learns_the_apps_rate_and_stays_just_below_it(per_second, retry_after):
    sim = Simulation(per_second, retry_after=retry_after)
    sim.run(10)
    assert sim.throttle.learned == pytest.approx(per_second, rel=0.1)
    learned_by, before = sim.clock.now, len(sim.sent)
    sim.run(50)
    assert sim.accepted_rate(learned_by, sim.clock.now) >= 0.85 * per_second
    # what is refused now are the occasional probes, not the pace
    assert sim.refused(learned_by) <= 0.01 * (len(sim.sent) - before)
    assert sim.throttle.throttled == sim.refused(0)


def test_outgrows_a_low_measurement_from_a_bucket_smaller_than_its_retry_after():
    """A bucket of 5 refilled at 20/s, and Retry-After: 1: every pause wastes 15 requests' worth,
    so the first measurement is about a third of the rate; probing finds the rest."""
    sim = Simulation(20, burst=5)
    sim.run(10)
    assert sim.throttle.learned < 10
    sim.run(300)
    assert sim.accepted_rate(sim.clock.now - 120, sim.clock.now) >= 0.85 * 20
    assert sim.refused(10) < 0.02 * len(sim.sent)


def test_a_429_after_a_quiet_spell_steps_down_a_little_and_a_smaller_budget_is_relearned():
    sim = Simulation(20)
    sim.run(15)
    learned = sim.throttle.learned
    sent = sim.throttle.acquire()
    sim.throttle.slow_down(1.0, sent)  # e.g. another client began spending the same budget
    assert sim.throttle.learned == pytest.approx(learned * 0.95)
    sim.per_second = 10  # it did, and takes half
    sim.run(30)
    assert sim.throttle.learned == pytest.approx(10, rel=0.1)
    assert sim.accepted_rate(sim.clock.now - 15, sim.clock.now) >= 0.85 * 10


def test_probes_find_budget_the_app_gained():
    sim = Simulation(20)
    sim.run(10)
    sim.per_second = 40
    sim.run(240)
    assert sim.accepted_rate(sim.clock.now - 60, sim.clock.now) >= 0.85 * 40


@pytest.mark.parametrize("cap", [10, 50])
def test_the_cap_is_never_exceeded(cap):
    sim = Simulation(20, cap=cap)
    sim.run(60)
    times = [at for at, _ in sim.sent]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / cap - 1e-9
    assert sim.throttle.rate <= cap


def test_a_429_pauses_every_caller_until_its_retry_after():
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    sent = [throttle.acquire() for _ in range(3)]  # three threads' requests on the wire
    clock.sleep(0.1)
    throttle.slow_down(3.0, sent[0])
    throttle.slow_down(5.0, sent[1])  # the same episode: a longer Retry-After is honoured too
    throttle.slow_down(None, sent[2])  # and no Retry-After adds no backoff of its own
    assert throttle.acquire() == pytest.approx(5.1)
    assert throttle.throttled == 3


def test_without_retry_after_the_backoff_grows_per_episode_not_per_429():
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    sent = [throttle.acquire() for _ in range(8)]
    for at in sent:  # eight threads refused at once: one episode
        throttle.slow_down(None, at)
    assert throttle.acquire() == pytest.approx(FIRST_PAUSE)
    throttle.slow_down(None, clock.now)  # refused again straight after the pause
    assert throttle.acquire() == pytest.approx(FIRST_PAUSE * 3)


def test_clients_sharing_a_rate_share_pause_together_and_adopt_the_learned_rate():
    share = InMemoryRateShare()
    partition = Simulation(20, share=share)
    other = Throttle(share=share, clock=partition.clock)
    other.acquire()
    partition.run(10)
    assert other.learned is None  # not polled yet
    sent = partition.throttle.acquire()
    partition.throttle.slow_down(30.0, sent)
    assert other.acquire() == pytest.approx(sent + 30)  # it saw no 429 itself, and waited all the same
    assert other.learned == partition.throttle.learned
    assert other.learned == pytest.approx(20 * 0.95, rel=0.1)
