"""The scheduler process: periodic ticks, safe to run on two machines at once.

Each job runs at most once per time slot across all schedulers: the slot is
claimed with a Redis `SET NX` (or, in the embedded single-process mode, in
memory).  What the jobs do is idempotent anyway (unique delivery windows,
re-sent wake-ups are harmless); the claim only saves the duplicate work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from worker.core.runtime import Runtime

log = logging.getLogger(__name__)


class SlotClaims(Protocol):
    def claim(self, job: str, slot: int, ttl_seconds: int) -> bool: ...


class MemoryClaims:
    """One process, one scheduler: a slot is claimed once.

    Like the Redis keys, which expire, a claim is kept only while its slot is
    recent: claiming a slot forgets that job's slots RECENT_SLOTS or more
    away, so a scheduler running for months holds a few entries per job.
    """

    RECENT_SLOTS = 4  # as long as a Redis claim lives (run_due's ttl: four slots)

    def __init__(self) -> None:
        self._claimed: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def claim(self, job: str, slot: int, ttl_seconds: int) -> bool:
        with self._lock:
            slots = self._claimed.setdefault(job, set())
            if slot in slots:
                return False
            slots.difference_update([s for s in slots if abs(s - slot) >= self.RECENT_SLOTS])
            slots.add(slot)
            return True

    def __len__(self) -> int:
        """Claims remembered."""
        return sum(map(len, self._claimed.values()))


class RedisClaims:
    """Shared by every scheduler on every machine: the first SET NX wins the slot."""

    def __init__(self, url: str, prefix: str = "trialalerts:scheduler") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    def claim(self, job: str, slot: int, ttl_seconds: int) -> bool:
        key = f"{self._prefix}:{job}:{slot}"
        return bool(self._redis.set(key, "1", nx=True, ex=max(ttl_seconds, 1)))


def claims_for(runtime: Runtime) -> SlotClaims:
    url = runtime.settings.broker_url
    return RedisClaims(url) if url else MemoryClaims()


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[Runtime], object]


def slot_of(now: datetime, every: timedelta) -> int:
    """The number of the time slot `now` falls in: the same on every machine."""
    return int(now.timestamp() // every.total_seconds())


def run_due(runtime: Runtime, jobs: list[Job], claims: SlotClaims) -> list[str]:
    """Run every job whose current slot this scheduler wins; returns their names."""
    now = runtime.now()
    ran = []
    for job in jobs:
        ttl = int(job.every.total_seconds() * 4)
        if not claims.claim(job.name, slot_of(now, job.every), ttl):
            continue
        try:
            job.run(runtime)
            ran.append(job.name)
        except Exception:  # a failing job must not stop the others or the scheduler
            log.exception("scheduler job %s failed", job.name)
    return ran


def default_jobs(runtime: Runtime, tick: float) -> list[Job]:
    from worker.queue.broker import enqueue
    from worker.queue.pipeline import schedule_digests
    from worker.queue.runner import wake_stranded
    from worker.subscriptions.signups import cleanup_signups

    every = timedelta(seconds=tick)
    grace = timedelta(seconds=max(60.0, tick * 4))
    jobs = [
        Job("digests", every, lambda rt: schedule_digests(rt)),
        Job("reconcile", every * 4, lambda rt: wake_stranded(rt, grace)),
        Job("signups.cleanup", timedelta(hours=1), lambda rt: cleanup_signups(rt)),
    ]
    if runtime.settings.feedback_queue_url:
        # A 20 s long poll may overlap the next tick: harmless, feedback is deduplicated.
        jobs.append(Job("feedback", every, lambda rt: enqueue(rt.settings, "feedback.poll")))
    return jobs


def serve(runtime: Runtime, tick: float = 15.0) -> None:
    """Block forever, running the jobs from an APScheduler interval trigger."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from worker.queue.actors import install
    from worker.queue.broker import make_broker

    install(make_broker(runtime.settings))
    jobs, claims = default_jobs(runtime, tick), claims_for(runtime)
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        run_due,
        "interval",
        seconds=tick,
        args=(runtime, jobs, claims),
        max_instances=1,
        coalesce=True,
        next_run_time=runtime.now(),
    )
    log.info("scheduler ticking every %.0f s: %s", tick, ", ".join(j.name for j in jobs))
    scheduler.start()
