"""Two schedulers at once never double a job's slot; the jobs themselves are idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.support import event, record
from worker.core.models import Delivery
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.scheduler import Job, MemoryClaims, RedisClaims, default_jobs, run_due, slot_of


def test_a_slot_is_the_same_on_every_machine() -> None:
    every = timedelta(seconds=15)
    assert slot_of(datetime(2026, 6, 29, 8, 0, 1, tzinfo=UTC), every) == slot_of(
        datetime(2026, 6, 29, 8, 0, 14, tzinfo=UTC), every
    )
    assert slot_of(datetime(2026, 6, 29, 8, 0, 15, tzinfo=UTC), every) > slot_of(
        datetime(2026, 6, 29, 8, 0, 14, tzinfo=UTC), every
    )


def test_redis_claims_let_one_scheduler_win_each_slot(redis_url: str) -> None:
    first, second = RedisClaims(redis_url), RedisClaims(redis_url)
    assert first.claim("digests", 42, 60) is True
    assert second.claim("digests", 42, 60) is False
    assert second.claim("digests", 43, 60) is True
    assert first.claim("reconcile", 42, 60) is True


def test_memory_claims_run_a_slot_once() -> None:
    claims = MemoryClaims()
    assert claims.claim("digests", 1, 60) and not claims.claim("digests", 1, 60)


def test_memory_claims_forget_slots_long_past() -> None:
    claims = MemoryClaims()
    for slot in range(50_000):  # a scheduler ticking for a week
        assert claims.claim("digests", slot, 60)
        assert claims.claim("reconcile", slot // 4, 240) is (slot % 4 == 0)
    assert len(claims) <= 16  # a few recent slots per job, not one entry per tick
    assert not claims.claim("digests", 49_999, 60)  # recent slots still run once
    assert not claims.claim("digests", 49_997, 60)


def test_two_schedulers_ticking_together_run_each_job_once_per_slot(
    runtime: Runtime, redis_url: str
) -> None:
    runs: list[str] = []
    jobs = [Job("count", timedelta(seconds=15), lambda rt: runs.append("count"))]
    runtime.clock = fixed_clock(datetime(2026, 6, 29, 8, 0, 3, tzinfo=UTC))
    ran = run_due(runtime, jobs, RedisClaims(redis_url)) + run_due(
        runtime, jobs, RedisClaims(redis_url)
    )
    assert ran == ["count"] and runs == ["count"]


def test_a_failing_job_does_not_stop_the_others(runtime: Runtime) -> None:
    def boom(_: Runtime) -> None:
        raise RuntimeError("boom")

    jobs = [
        Job("boom", timedelta(seconds=15), boom),
        Job("ok", timedelta(seconds=15), lambda rt: 1),
    ]
    assert run_due(runtime, jobs, MemoryClaims()) == ["ok"]


def test_the_digest_job_claims_a_due_window_once_even_without_slot_claims(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime, [{"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"}]
    )
    publish_at(
        runtime,
        stub_broker,
        datetime(2026, 6, 28, 18, tzinfo=UTC),
        event(record("NCT04267848"), "e1"),
    )
    runtime.clock = fixed_clock(datetime(2026, 6, 29, 8, 0, 1, tzinfo=UTC))
    jobs = default_jobs(runtime, 15.0)
    run_due(runtime, jobs, MemoryClaims())
    run_due(runtime, jobs, MemoryClaims())  # a second scheduler that knows nothing of the first
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
