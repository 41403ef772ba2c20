"""The send pacer: evenly spaced slots, one timeline for all workers, quota and holds."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from worker.sending.pacer import (
    MIN_RATE_FRACTION,
    WORTH_WORKING_FOR,
    LocalPacer,
    QuotaSpent,
    RedisPacer,
    SendingStopped,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def local(rate: float, clock: FakeClock, **kwargs: object) -> LocalPacer:
    return LocalPacer(rate, clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0 - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_callers_arriving_together_get_slots_one_interval_apart() -> None:
    clock = FakeClock()
    pacer = local(10.0, clock)
    waits = [pacer.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert clock.slept == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_no_second_ever_holds_more_sends_than_the_rate() -> None:
    clock, chance = FakeClock(), random.Random(7)
    pacer = local(90.0, clock)
    slots = []
    for _ in range(3000):
        clock.now += chance.choice([0.0, 0.0, 0.001, 0.02, 0.3])  # bursts and pauses
        slots.append(clock.now + pacer.acquire())
    assert max_in_any_second(slots) <= 90


def test_too_fast_halves_the_rate_once_and_it_climbs_back_to_the_ceiling() -> None:
    clock = FakeClock()
    pacer = local(100.0, clock)
    pacer.acquire()
    pacer.slow_down()
    pacer.slow_down()  # many 429s at once: one halving
    assert pacer.rate() == pytest.approx(50.0)
    clock.now += 5
    pacer.acquire()
    assert pacer.rate() == pytest.approx(75.0)
    clock.now += 60
    pacer.acquire()
    assert pacer.rate() == pytest.approx(100.0)


def test_the_rate_never_falls_below_a_floor() -> None:
    clock = FakeClock()
    pacer = local(100.0, clock)
    seen = []
    for _ in range(30):
        clock.now += 1.0  # one 429 a second, for half a minute
        pacer.slow_down()
        seen.append(pacer.rate())
    floor = 100.0 * MIN_RATE_FRACTION
    assert min(seen) >= floor and seen[-1] == pytest.approx(floor, rel=0.01)


def test_the_24_hour_quota_is_spent_one_send_at_a_time() -> None:
    pacer = local(100.0, FakeClock())
    pacer.set_limits(100.0, 2)
    pacer.acquire()
    pacer.acquire()
    with pytest.raises(QuotaSpent):
        pacer.acquire()


def test_a_lower_ceiling_takes_effect_at_once() -> None:
    pacer = local(100.0, FakeClock())
    pacer.set_limits(10.0, None)
    assert pacer.rate() == 10.0


def test_a_stopped_pacer_refuses_every_slot() -> None:
    pacer = local(100.0, FakeClock(), stopped=lambda: True)
    with pytest.raises(SendingStopped):
        pacer.acquire()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def two_workers(client: redis.Redis, rate: float) -> tuple[RedisPacer, RedisPacer, list[float]]:
    slept: list[float] = []
    first = RedisPacer(client, rate, prefix="test:pacer", sleep=slept.append)
    second = RedisPacer(client, rate, prefix="test:pacer", sleep=slept.append)
    return first, second, slept


def test_workers_share_one_timeline_in_redis(client: redis.Redis) -> None:
    first, second, _ = two_workers(client, 20.0)
    arrivals = []
    for pacer in [first, second] * 4:
        pacer.acquire()
        arrivals.append(float(client.hget(first.key, "tat") or 0))
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert gaps == pytest.approx([0.05] * 7, abs=1e-5)


def test_a_hold_stops_every_worker_at_its_next_slot(client: redis.Redis) -> None:
    first, second, _ = two_workers(client, 20.0)
    first.acquire()
    client.set(first.hold_key, "{}")
    for pacer in (first, second):
        with pytest.raises(SendingStopped):
            pacer.acquire()


def test_the_quota_is_shared_by_every_worker(client: redis.Redis) -> None:
    first, second, _ = two_workers(client, 1000.0)
    first.set_limits(1000.0, 3)
    first.acquire()
    second.acquire()
    first.acquire()
    with pytest.raises(QuotaSpent):
        second.acquire()


def test_one_workers_slow_down_slows_them_all_once(client: redis.Redis) -> None:
    first, second, _ = two_workers(client, 100.0)
    first.acquire()
    first.slow_down()
    second.slow_down()
    assert second.rate() == pytest.approx(50.0, rel=0.01)
    first.set_limits(40.0, None)
    assert second.rate() == pytest.approx(40.0)


def test_work_done_while_waiting_runs_only_for_a_wait_worth_it_and_shortens_it() -> None:
    clock = FakeClock()
    pacer = local(2.0, clock)
    ran: list[float] = []
    assert pacer.acquire(lambda: ran.append(clock.now)) == 0.0
    assert ran == [] and clock.slept == []  # the slot was free: nothing to do before it
    assert pacer.acquire(lambda: ran.append(clock.now)) == pytest.approx(0.5)
    assert len(ran) == 1 and clock.slept == pytest.approx([0.5], abs=0.05)
    fast = local(1 / (WORTH_WORKING_FOR / 2), FakeClock())
    fast.acquire()
    assert fast.acquire(lambda: ran.append(0.0)) == pytest.approx(WORTH_WORKING_FOR / 2)
    assert len(ran) == 1  # a slot that near is not worth a write first
