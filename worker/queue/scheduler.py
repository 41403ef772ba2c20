"""The scheduler process: periodic ticks, safe to run on two machines at once.

Each job runs at most once per time slot across all schedulers: the slot is
claimed with a Redis `SET NX` (or, in the embedded single-process mode, in
memory).  What the jobs do is idempotent anyway (unique delivery windows,
re-sent wake-ups are harmless); the claim only saves the duplicate work.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from worker.core.metrics import count, set_gauge
from worker.core.runtime import Runtime
from worker.queue.watch import control_of, watch
from worker.sending.control import ControlStore

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
    url = runtime.settings.redis_url
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
            set_gauge(
                "trialalerts_scheduler_job_success_timestamp_seconds", time.time(), job=job.name
            )
        except Exception:  # a failing job must not stop the others or the scheduler
            log.exception("scheduler job %s failed", job.name, extra={"job": job.name})
            count("trialalerts_scheduler_job_failures_total", job=job.name)
    return ran


def tick(
    runtime: Runtime, jobs: list[Job], claims: SlotClaims, control: ControlStore | None
) -> None:
    """Run the due jobs, then refresh the gauges the alert rules watch (worker.queue.watch)."""
    run_due(runtime, jobs, claims)
    try:
        watch(runtime, control)
    except Exception:  # noqa: BLE001 - the jobs matter more than the gauges
        log.exception("the watched gauges could not be read")
    set_gauge("trialalerts_scheduler_tick_timestamp_seconds", time.time())


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


def serve_metrics(port: int) -> None:
    """The scheduler's own /metrics (0: none), on the workers' address (dramatiq_prom_host)."""
    if port:
        import prometheus_client

        host = os.environ.get("dramatiq_prom_host", "127.0.0.1")  # noqa: SIM112 - dramatiq's name
        prometheus_client.start_http_server(port, host)


def serve(runtime: Runtime, every: float = 15.0) -> None:
    """Block forever, running the jobs from an APScheduler interval trigger."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from worker.queue.actors import install
    from worker.queue.broker import make_broker

    install(make_broker(runtime.settings))
    # APScheduler logs two lines per run of a job at info: one tick every few seconds.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    serve_metrics(runtime.settings.scheduler_metrics_port)
    jobs, claims = default_jobs(runtime, every), claims_for(runtime)
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        tick,
        "interval",
        seconds=every,
        args=(runtime, jobs, claims, control_of(runtime)),
        max_instances=1,
        coalesce=True,
        next_run_time=runtime.now(),
    )
    log.info("scheduler ticking every %.0f s: %s", every, ", ".join(j.name for j in jobs))
    scheduler.start()
