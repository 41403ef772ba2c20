"""End to end: N subscribers' daily digests through PostgreSQL + a broker + a local SES endpoint.

Once per broker (Redis, RabbitMQ): the digests are claimed the way the
scheduler claims them; `trialalerts worker` processes (2 processes x 8
threads) build, render and send them to a local SES v2 endpoint with no
limit, running in its own process.  The figure is digests delivered per
second from the claim to the last `sent` row.  The anchor, measured in the
same run once the workers have stopped, is the endpoint alone driven by as
many client threads as the workers have (2 processes x 8 threads), sending
messages of the digests' average size: arrivals per second at the endpoint.
The clock starts once the workers have booted (their CPU use has settled).
Over the timed part, the machine's CPU per digest is read from /proc and split
between the workers, PostgreSQL, the endpoint, the broker and the rest
(worker/bench/pipeline_cpu.py): they all share the same cores.

A broker that cannot run (not reachable, not supported, workers that exit)
is a row that did not run, with the reason; the other broker still runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlsplit

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from worker.bench.arrivals import span_rate
from worker.bench.corpus import record
from worker.bench.databases import throwaway_postgres
from worker.bench.faults import OWN_SETTINGS
from worker.bench.pipeline_cpu import CpuSplit, CpuWatch, cpu_row, wait_until_settled
from worker.bench.rows import BenchRow, at_least, error_reason, not_run
from worker.bench.scale import Scale, by_scale
from worker.bench.ses_endpoint import endpoint_record
from worker.bench.ses_load import drive
from worker.bench.subscribers import bulk_load
from worker.core.config import Settings, load_settings
from worker.core.delivery_states import State
from worker.core.models import Delivery
from worker.core.runtime import Runtime, fixed_clock, set_runtime
from worker.queue.actors import install
from worker.queue.broker import drain, make_broker
from worker.queue.pipeline import publish, schedule_digests
from worker.subscriptions.rows import SubscriptionRow, parse_row

KEY = "bench-secret-key-0123456789abcdef"
REDIS_URL = os.environ.get("TRIALALERTS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
AMQP_URL = os.environ.get("TRIALALERTS_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PROCESSES, THREADS = 2, 8  # the workers', and so the anchor's client threads
TARGET = at_least(1000, "digests/s")
STALL_SECONDS = 60.0  # no digest sent for this long: the run has stopped (messages lost, ...)
PUBLISHED = datetime(2026, 6, 28, 18, tzinfo=UTC)
DUE = datetime(2026, 6, 29, 8, 0, 1, tzinfo=UTC)


def brokers() -> dict[str, str]:
    """The brokers the scenario runs on, by name (read when it runs, so tests can point them)."""
    return {"Redis": REDIS_URL, "RabbitMQ": AMQP_URL}


def _subscribers(count: int) -> Iterator[SubscriptionRow]:
    for n in range(count):
        yield parse_row({"email": f"s{n}@example.org", "kind": "condition",
                         "condition": "lung cancer", "frequency": "daily"})  # fmt: skip


def _study_event() -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e2e-1", "source": "bench",
            "type": "gov.clinicaltrials.study.created", "time": PUBLISHED.isoformat(),
            "data": record("NCT04267848")}  # fmt: skip


@contextmanager
def _endpoint(log: Any) -> Iterator[tuple[str, int]]:
    """The stand-in SES endpoint, no limit, in a process of its own; yields its URL and pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.bench.fake_ses"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().decode().strip(), process.pid
    finally:
        process.stdin.close()
        process.stdout.close()
        process.wait(timeout=30)


def _aws_env(url: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_SESV2": url}  # fmt: skip


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children, the largest one (MB)."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    peaks = []
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def _sent(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.state == State.SENT)) or 0  # fmt: skip


def _wait_for_sent(
    runtime: Runtime, claimed: int, workers: subprocess.Popen[bytes]
) -> tuple[int, float]:
    """(digests sent, seconds without progress at the end): all sent, stalled or workers gone."""
    sent, progress = 0, time.perf_counter()
    while workers.poll() is None and time.perf_counter() - progress < STALL_SECONDS:
        now_sent = _sent(runtime)
        if now_sent > sent:
            sent, progress = now_sent, time.perf_counter()
        if sent >= claimed:
            break
        time.sleep(0.25)
    return sent, time.perf_counter() - progress


def _log_tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def _empty_broker(settings: Settings) -> Any:
    """The scenario's broker with its queues emptied, and the bench's Redis database."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the pacer and holds live here, whatever the broker
    broker = install(make_broker(settings))
    broker.flush_all()
    return broker


def worker_env(
    database_url: str, broker_url: str, endpoint_url: str, folder: str
) -> dict[str, str]:
    """The workers' environment, which also gives this process its settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    return env | _aws_env(endpoint_url) | {
        "TRIALALERTS_DATABASE_URL": database_url, "TRIALALERTS_BROKER_URL": broker_url,
        "TRIALALERTS_REDIS_URL": REDIS_URL, "TRIALALERTS_EMAIL_BACKEND": "ses",
        "TRIALALERTS_SECRET_KEY": KEY, "TRIALALERTS_METRICS_PORT": "0",
        "TRIALALERTS_SES_MAX_RATE": "100000",
        "TRIALALERTS_METRICS_DIR": str(Path(folder) / "metrics"),
    }  # fmt: skip


@dataclass(frozen=True)
class Run:
    claimed: int
    sent: int
    seconds: float
    worker_rss_mb: float | None  # None: the workers had exited
    anchor: float | None  # the endpoint alone, sends/s
    message_kb: float
    cpu: CpuSplit  # from the claim to the last sent row


def run_end_to_end(broker_url: str, count: int, scale: Scale) -> Run:
    with throwaway_postgres() as url, TemporaryDirectory() as folder:
        log_path = Path(folder) / "e2e.log"
        with log_path.open("ab") as log, _endpoint(log) as (endpoint_url, endpoint_pid):
            env = worker_env(url, broker_url, endpoint_url, folder)
            runtime = Runtime(load_settings(env), fixed_clock(PUBLISHED))
            set_runtime(runtime)
            try:
                _empty_broker(runtime.settings).close()  # an unreachable broker fails here, early
                bulk_load(runtime.engine, _subscribers(count), PUBLISHED)
                stub = StubBroker()
                install(stub)
                publish(_study_event())
                drain(stub)
                endpoint = (endpoint_url, endpoint_pid)
                return _measure(runtime, env, endpoint, folder, log, log_path, scale)
            finally:
                set_runtime(None)
                runtime.close()


def _measure(
    runtime: Runtime, env: dict[str, str], endpoint: tuple[str, int], folder: str, log: Any,
    log_path: Path, scale: Scale,
) -> Run:  # fmt: skip
    endpoint_url, endpoint_pid = endpoint
    broker = _empty_broker(runtime.settings)
    workers = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--processes", str(PROCESSES),
         "--threads", str(THREADS)],
        env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_settled(workers.pid, lambda: workers.poll() is None)  # booted: then the clock
        if workers.poll() is not None:
            raise RuntimeError(f"the workers exited ({workers.returncode}): {_log_tail(log_path)}")
        runtime.clock = fixed_clock(DUE)
        broker_url = runtime.settings.broker_url or ""
        amqp = broker_url if broker_url.startswith("amqp") else None
        cpu = CpuWatch(runtime.engine, REDIS_URL, amqp, workers.pid, endpoint_pid)
        start = time.perf_counter()
        claimed = schedule_digests(runtime)
        sent, stalled = _wait_for_sent(runtime, claimed, workers)
        seconds = time.perf_counter() - start
        split = cpu.stop(seconds)
        exited = workers.poll()
        rss = _peak_rss_mb(workers.pid) if exited is None else None
        tail = _log_tail(log_path)
    finally:
        if workers.poll() is None:
            os.killpg(workers.pid, signal.SIGTERM)
        workers.wait(timeout=60)
        broker.close()
    if exited is not None:
        raise RuntimeError(f"the workers exited ({exited}) after {sent:,} of {claimed:,} "
                           f"digests: {tail}")  # fmt: skip
    if sent < claimed:
        raise RuntimeError(f"{sent:,} of {claimed:,} digests sent, then none for {stalled:.0f} s "
                           f"({seconds:.0f} s in all)")  # fmt: skip
    arrivals = endpoint_record(endpoint_url)["arrivals"]
    size = sum(arrival[4] for arrival in arrivals) // max(1, len(arrivals))
    mark = time.time()
    drive(endpoint_url, PROCESSES, THREADS, sends=by_scale(scale, 100, 5_000, 20_000),
          seconds=30.0, size=size)  # fmt: skip
    alone = [arrival[0] for arrival in endpoint_record(endpoint_url)["arrivals"]
             if arrival[0] >= mark]  # fmt: skip
    return Run(claimed, sent, seconds, rss, span_rate(alone), size / 1024, split)


def broker_rows(broker: str, broker_url: str, scale: Scale) -> list[BenchRow]:
    count = by_scale(scale, 100, 10_000, 100_000)
    name = f"end to end, {broker}, {count:,} daily digests"
    try:
        run = run_end_to_end(broker_url, count, scale)
    except Exception as error:  # noqa: BLE001 - this broker's row says why it did not run
        password = urlsplit(broker_url).password
        where = broker_url.replace(f":{password}@", ":***@") if password else broker_url
        return [not_run(name, f"{broker} at {where}: {error_reason(error)}", TARGET, "digests/s")]
    note = (
        f"{run.sent:,} of {run.claimed:,} digests sent in {run.seconds:.1f} s by "
        f"{PROCESSES} processes x {THREADS} threads; {run.message_kb:.0f} KB a message"
    )
    return [
        BenchRow(name, run.sent / run.seconds, "digests/s", run.anchor,
                 f"the SES endpoint alone, {PROCESSES} processes x {THREADS} client threads",
                 TARGET, note),
        BenchRow(f"end to end, {broker}: peak RSS of a worker process", run.worker_rss_mb, "MB"),
        cpu_row(broker, run.cpu, run.sent, TARGET),
    ]  # fmt: skip


def end_to_end_rows(scale: Scale) -> list[BenchRow]:
    rows: list[BenchRow] = []
    for broker, url in brokers().items():
        rows += broker_rows(broker, url, scale)
    return rows
