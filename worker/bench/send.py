"""`trialalerts bench`, SES sending: our own cost per send, and how exactly workers hold a rate.

Both run against the stand-in SES endpoint (worker.bench.fake_ses) in a process of
its own, so its CPU is not counted as ours.

- Overhead: sends per CPU-second of this process with no rate limit, for
  boto3's `send_email` alone (the anchor), for our send path around it
  (pacer slot, error classes, retries), and for `send_deliveries` end to end
  on PostgreSQL (claim, check again, render, send, record; the database
  server's CPU is not counted).
- Pacing (worker/bench/pacing.py): four processes of four threads share one
  Redis pacer; what arrives at the endpoint per second against MaxSendRate
  as the endpoint enforces it, both measured.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from worker.bench.pacing import pacing_rows
from worker.bench.rows import BenchRow, not_run
from worker.bench.ses_endpoint import (
    FROM,
    NO_LIMIT,
    OVERHEAD_TARGET,
    RAW,
    WORKER_THREADS,
    bench_client,
    bench_message,
    fake_ses_process,
    redis_url,
)
from worker.sending.attempt import send_one
from worker.sending.control import MemoryControl, RedisControl
from worker.sending.gate import SendGate
from worker.sending.pacer import LocalPacer, RedisPacer
from worker.sending.ses import SesSender


def _per_cpu_second(count: int, run: Callable[[], object]) -> tuple[float, float]:
    """(sends per CPU-second of this process, sends per wall second)."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return count / cpu, count / wall


def overhead_rows(count: int) -> list[BenchRow]:
    with fake_ses_process() as url:
        client = bench_client(url)
        client.send_email(  # warm the connection and botocore's caches
            FromEmailAddress=FROM,
            Destination={"ToAddresses": ["warm@example.org"]},
            Content={"Raw": {"Data": RAW}},
        )

        def boto_alone() -> None:
            for n in range(count):
                client.send_email(
                    FromEmailAddress=FROM,
                    Destination={"ToAddresses": [f"reader{n:06d}@example.org"]},
                    Content={"Raw": {"Data": RAW}},
                    EmailTags=[{"Name": "delivery", "Value": str(n)}],
                )

        anchor, _ = _per_cpu_second(count, boto_alone)
        gate = SendGate(LocalPacer(NO_LIMIT), MemoryControl())
        sender = SesSender(client, from_address=FROM, configuration_set=None, gate=gate)
        ours, ours_wall = _per_cpu_second(
            count, lambda: [send_one(sender, gate, bench_message(n)) for n in range(count)]
        )
        rows = [
            BenchRow(
                "SES send path, no limit: pacer + error classes + boto3",
                ours,
                "sends/CPU-s",
                anchor,
                "boto3 sesv2.send_email alone",
                OVERHEAD_TARGET,
                f"{count} sends of {len(RAW) // 1000} KB, one thread: {ours_wall:.0f} sends/s wall",
            )
        ]
        rows += _redis_pacer_row(url, count, ours)
        rows += _end_to_end_row(url, 2 * count, ours)
    return rows


def _redis_pacer_row(url: str, count: int, local: float) -> list[BenchRow]:
    import redis

    client = redis.Redis.from_url(redis_url())
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    try:
        client.ping()
    except redis.ConnectionError as error:
        name = "SES send path, no limit, shared Redis pacer"
        return [not_run(name, f"Redis unreachable: {error}", OVERHEAD_TARGET, "sends/CPU-s")]
    try:
        gate = SendGate(RedisPacer(client, NO_LIMIT, prefix=prefix), RedisControl(client, prefix))
        sender = SesSender(bench_client(url), from_address=FROM, configuration_set=None, gate=gate)
        ours, wall = _per_cpu_second(
            count, lambda: [send_one(sender, gate, bench_message(n)) for n in range(count)]
        )
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
    return [
        BenchRow(
            "SES send path, no limit, shared Redis pacer",
            ours,
            "sends/CPU-s",
            local,
            "the same with the in-process pacer",
            OVERHEAD_TARGET,
            f"one Redis round trip per send; {wall:.0f} sends/s wall, one thread",
        )
    ]


def _end_to_end_row(url: str, count: int, sender_alone: float) -> list[BenchRow]:
    from worker.bench.corpus import BenchSetupError
    from worker.bench.databases import throwaway_postgres
    from worker.bench.sample_deliveries import queue_deliveries
    from worker.core.config import Settings
    from worker.core.db import make_engine, make_sessionmaker
    from worker.sending.loop import send_deliveries

    name = f"send_deliveries end to end, PostgreSQL, no limit, {WORKER_THREADS} threads"
    try:
        with throwaway_postgres() as database:
            engine = make_engine(database, pool_size=2 * WORKER_THREADS)
            sessions = make_sessionmaker(engine)
            ids = queue_deliveries(sessions, count)
            settings = Settings(
                database_url=database,
                email_backend="ses",
                secret_keys=("bench-secret-key-0123456789",),
            )
            gate = SendGate(LocalPacer(NO_LIMIT), MemoryControl())
            sender = SesSender(
                bench_client(url), from_address=FROM, configuration_set=None, gate=gate
            )
            now = datetime.now(UTC)
            batches = [ids[start : start + 100] for start in range(0, count, 100)]
            lock = threading.Lock()

            def one_thread() -> None:
                while True:
                    with lock:
                        if not batches:
                            return
                        batch = batches.pop()
                    send_deliveries(sessions, settings, sender, batch, now)

            def run() -> None:
                threads = [threading.Thread(target=one_thread) for _ in range(WORKER_THREADS)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()

            figure, wall = _per_cpu_second(count, run)
            engine.dispose()
    except BenchSetupError as error:
        return [not_run(name, str(error), OVERHEAD_TARGET, "sends/CPU-s")]
    return [
        BenchRow(
            name,
            figure,
            "sends/CPU-s",
            sender_alone,
            "the SES send path alone",
            OVERHEAD_TARGET,
            f"claim, check again, render the digest, mark in flight, send, record; batches of "
            f"100 as a worker process runs them; {wall:.0f} sends/s wall in one process; "
            "PostgreSQL's CPU not counted",
        )
    ]


def bench_send(quick: bool = True) -> list[BenchRow]:
    """The SES rows of `trialalerts bench` (quick: seconds; full: about a minute)."""
    count = 1000 if quick else 5000
    rows = overhead_rows(count)
    rows += pacing_rows(max_rate=200.0, seconds=8.0 if quick else 20.0)
    return rows


if __name__ == "__main__":
    from worker.bench.report import format_table

    print(format_table(bench_send(quick="--full" not in sys.argv)))
