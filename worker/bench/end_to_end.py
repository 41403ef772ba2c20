"""End to end: N subscribers' daily digests through Redis + PostgreSQL + a local SES endpoint.

The digests are claimed the way the scheduler claims them; `trialalerts worker`
processes (2 processes × 8 threads) build, render and send them to a local
SES v2 endpoint with no limit, running in its own process.  The figure is
digests delivered per second from the claim to the last `sent` row; the
anchor is what the endpoint alone takes from boto3 in the same run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from worker.bench.corpus import record
from worker.bench.databases import throwaway_postgres
from worker.bench.faults import OWN_SETTINGS
from worker.bench.rows import BenchRow
from worker.bench.scale import Scale, by_scale
from worker.bench.subscribers import bulk_load
from worker.core.config import Settings
from worker.core.delivery_states import State
from worker.core.models import Delivery
from worker.core.runtime import Runtime, fixed_clock, set_runtime
from worker.queue.actors import install
from worker.queue.broker import drain
from worker.queue.pipeline import publish, schedule_digests
from worker.subscriptions.rows import SubscriptionRow

KEY = "bench-secret-key-0123456789abcdef"
REDIS_URL = os.environ.get("TRIALALERTS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PUBLISHED = datetime(2026, 6, 28, 18, tzinfo=UTC)
DUE = datetime(2026, 6, 29, 8, 0, 1, tzinfo=UTC)


def _subscribers(count: int) -> list[SubscriptionRow]:
    return [
        SubscriptionRow(f"s{n}@example.org", "condition", "lung cancer", None, "daily", (), (),
                        None, "UTC")
        for n in range(count)
    ]  # fmt: skip


def _study_event() -> dict[str, Any]:
    data = record("NCT04267848")
    return {"specversion": "1.0", "id": "e2e-1", "source": "bench",
            "type": "gov.clinicaltrials.study.created", "time": PUBLISHED.isoformat(),
            "data": data}  # fmt: skip


def _endpoint(log: Any) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.bench.fake_ses"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().decode().strip()


def _aws_env(url: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_SESV2": url}  # fmt: skip


def _endpoint_rate(url: str, sends: int) -> float:
    """boto3 SendEmail calls per second against the endpoint alone (the anchor)."""
    import boto3

    client = boto3.client("sesv2", region_name="us-east-1", endpoint_url=url,
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n\r\nx"
    start = time.perf_counter()
    for _ in range(sends):
        client.send_email(FromEmailAddress="a@example.org",
                          Destination={"ToAddresses": ["b@example.org"]},
                          Content={"Raw": {"Data": raw}})  # fmt: skip
    return sends / (time.perf_counter() - start)


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children, the largest one (MB)."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    peaks = []
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def end_to_end_rows(scale: Scale) -> list[BenchRow]:
    count = by_scale(scale, 300, 10_000, 100_000)
    with throwaway_postgres() as url, TemporaryDirectory() as folder:
        redis.Redis.from_url(REDIS_URL).flushdb()
        runtime = Runtime(Settings(database_url=url, broker_url=REDIS_URL, secret_keys=(KEY,)),
                          fixed_clock(PUBLISHED))  # fmt: skip
        set_runtime(runtime)
        bulk_load(runtime.engine, iter(_subscribers(count)), PUBLISHED)
        stub = install(StubBroker())
        publish(_study_event())
        drain(stub)
        log = (Path(folder) / "e2e.log").open("ab")
        endpoint, endpoint_url = _endpoint(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
        env |= _aws_env(endpoint_url) | {
            "TRIALALERTS_DATABASE_URL": url, "TRIALALERTS_BROKER_URL": REDIS_URL,
            "TRIALALERTS_EMAIL_BACKEND": "ses", "TRIALALERTS_SECRET_KEY": KEY,
            "TRIALALERTS_METRICS_PORT": "0", "TRIALALERTS_SES_MAX_RATE": "100000",
            "TRIALALERTS_METRICS_DIR": str(Path(folder) / "metrics"),
        }  # fmt: skip
        workers = subprocess.Popen(
            [sys.executable, "-m", "worker", "worker", "--processes", "2", "--threads", "8"],
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            time.sleep(3)  # let the workers boot before the clock starts
            install(RedisBroker(url=REDIS_URL))
            runtime.clock = fixed_clock(DUE)
            start = time.perf_counter()
            claimed = schedule_digests(runtime)
            sent = 0
            deadline = start + max(120.0, count / 50)
            while time.perf_counter() < deadline:
                with runtime.sessions() as session:
                    sent = session.scalar(select(func.count()).select_from(Delivery)
                                          .where(Delivery.state == State.SENT)) or 0  # fmt: skip
                if sent >= claimed:
                    break
                time.sleep(0.25)
            elapsed = time.perf_counter() - start
            worker_rss = _peak_rss_mb(workers.pid)
            anchor = _endpoint_rate(endpoint_url, by_scale(scale, 200, 2_000, 5_000))
        finally:
            os.killpg(workers.pid, signal.SIGTERM)
            workers.wait(timeout=60)
            for pipe in (endpoint.stdin, endpoint.stdout):
                if pipe:
                    pipe.close()
            endpoint.wait(timeout=30)
            log.close()
            set_runtime(None)
            runtime.close()
    note = f"{sent} of {claimed} digests sent in {elapsed:.1f} s, 2 processes x 8 threads"
    return [
        BenchRow(
            f"end to end, {count:,} daily digests",
            sent / elapsed,
            "digests/s",
            anchor,
            "the local SES endpoint alone, one boto3 client",
            ">= 1,000 digests/s",
            note,
        ),  # fmt: skip
        BenchRow("end to end: peak RSS of a worker process", worker_rss, "MB", None, ""),
    ]
