"""`trialalerts bench --only faults`: digests through killed workers and a flushed Redis, counted.

Each run claims N daily digests on a fresh PostgreSQL database and lets
2 worker processes x 4 threads send them to a local SES endpoint while the
fault strikes (worker.bench.faults).  SES's Send events come seconds after
each accepted message, as SNS → SQS brings them, and the sending lease is
longer than the slowest of them, as in production (300 s against seconds);
a third run turns event publishing off, so an interrupted send can only be
settled by sending it again.

What is claimed, and measured here rather than assumed:
- with Send events: every digest arrives exactly once;
- without them: none is lost, and a digest arrives twice only when its send
  was interrupted (in flight at a SIGKILL, counted in the database once the
  killed workers' sessions have ended, or taken back from a worker stalled
  past its lease), at most once more per interruption.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from worker.bench.databases import throwaway_postgres
from worker.bench.faults import (
    KEY,
    Deployment,
    flush_redis_once,
    prepare_digests,
    sigkill_repeatedly,
)
from worker.bench.rows import BenchRow, at_most, error_reason, not_run, ratio_at_least
from worker.bench.scale import Scale, by_scale
from worker.bench.send_events import REALISTIC_DELAY, SendEvents
from worker.core.config import Settings
from worker.core.runtime import Runtime, set_runtime

REDIS_URL = os.environ.get("TRIALALERTS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
EVERY_ONE = ratio_at_least(1.0)  # of the digests claimed
NO_EXTRA_RESEND = at_most(0, "resends")


@dataclass(frozen=True)
class FaultRun:
    name: str
    fault: Callable[[Deployment, int], None]
    send_events: bool  # does SES publish Send events?


def runs(kills: int) -> tuple[FaultRun, ...]:
    def sigkill(deployment: Deployment, expected: int) -> None:
        sigkill_repeatedly(deployment, expected, kills)

    return (
        FaultRun(f"SIGKILL of the workers x{kills}", sigkill, True),
        FaultRun("Redis emptied mid-run (FLUSHDB)", flush_redis_once, True),
        FaultRun(f"SIGKILL of the workers x{kills}, event publishing off", sigkill, False),
    )


@dataclass(frozen=True)
class Timing:
    delay: tuple[float, float]  # seconds from an accepted message to its Send event
    lease: int  # seconds: TRIALALERTS_SENDING_LEASE_SECONDS, longer than the slowest event


def timing(scale: Scale) -> Timing:
    """Realistic delays for the bench; compressed ones for the shape tests (`tiny`)."""
    return by_scale(scale, Timing((0.2, 1.0), 3), Timing(REALISTIC_DELAY, 15),
                    Timing(REALISTIC_DELAY, 15))  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    claimed: int
    sends: Counter[str]  # delivery id -> arrivals at the endpoint
    interrupted: Counter[str]  # delivery id -> times it was in flight at a SIGKILL
    seconds: float

    @property
    def once(self) -> int:
        return sum(1 for n in self.sends.values() if n == 1)

    @property
    def lost(self) -> int:
        return self.claimed - len(self.sends)

    @property
    def twice(self) -> int:
        return sum(1 for n in self.sends.values() if n > 1)

    @property
    def beyond_one_per_interruption(self) -> int:
        """Resends not explained by an interrupted send: more than one per interruption."""
        return sum(max(0, n - 1 - self.interrupted[delivery]) for delivery, n in self.sends.items())


def outcome_rows(run: FaultRun, label: str, outcome: Outcome, events: str) -> list[BenchRow]:
    interrupted = sum(outcome.interrupted.values())
    note = (
        f"{outcome.lost} lost, {outcome.twice} sent twice, {interrupted} sends interrupted; "
        f"{events}; {outcome.seconds:.0f} s, 2 processes x 4 threads"
    )
    if run.send_events:
        return [BenchRow(f"{label}: sent exactly once", outcome.once, "digests", outcome.claimed,
                         "digests claimed", EVERY_ONE, note)]  # fmt: skip
    return [
        BenchRow(f"{label}: delivered", len(outcome.sends), "digests", outcome.claimed,
                 "digests claimed", EVERY_ONE, note),
        BenchRow(f"{label}: sent twice", outcome.twice, "digests",
                 interrupted, "sends interrupted (SIGKILL or lease)", None,
                 "an interrupted send may have reached SES; with no Send event to say so, it is "
                 "sent again once"),
        BenchRow(f"{label}: resends beyond one per interrupted send",
                 outcome.beyond_one_per_interruption, "resends", target=NO_EXTRA_RESEND,
                 note="arrivals of a digest, minus one, minus the times its send was interrupted"),
    ]  # fmt: skip


def run_fault(run: FaultRun, count: int, times: Timing) -> Outcome:
    import redis

    with throwaway_postgres() as url, TemporaryDirectory() as folder:
        redis.Redis.from_url(REDIS_URL).flushdb()
        settings = Settings(database_url=url, broker_url=REDIS_URL, secret_keys=(KEY,),
                            sending_lease_seconds=times.lease)  # fmt: skip
        runtime = Runtime(settings)
        set_runtime(runtime)
        prepare_digests(runtime, count)
        events = SendEvents(times.delay if run.send_events else None)
        deployment = Deployment(runtime, REDIS_URL, Path(folder), events)
        start = time.perf_counter()
        try:
            claimed = deployment.claim_due_digests()
            deployment.start_workers()
            run.fault(deployment, claimed)
        finally:
            deployment.stop()
            set_runtime(None)
            runtime.close()
        seconds = time.perf_counter() - start
    return Outcome(claimed, deployment.sends_per_delivery(), deployment.interrupted, seconds)


def fault_rows(scale: Scale) -> list[BenchRow]:
    """Each run at size; a run that breaks down is a row that did not run, with the reason."""
    count = by_scale(scale, 200, 500, 20_000)
    times = timing(scale)
    rows: list[BenchRow] = []
    for run in runs(kills=by_scale(scale, 2, 3, 10)):
        label = f"faults: {run.name}, {count:,} digests"
        events = SendEvents(times.delay if run.send_events else None).describe()
        try:
            outcome = run_fault(run, count, times)
        except Exception as error:  # noqa: BLE001 - reported as this run's row
            rows.append(not_run(label, error_reason(error), EVERY_ONE, "digests"))
            continue
        rows += outcome_rows(run, label, outcome, f"{events}, lease {times.lease} s")
    return rows
