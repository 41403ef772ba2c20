"""A deployment in miniature for fault runs: PostgreSQL, Redis, dramatiq worker processes
sending through a local SES endpoint, and the caller as scheduler and supervisor.

Used by the fault tests (small) and by `trialalerts bench --only faults` (full size).

Counts are taken at the SES endpoint: each arrival carries its delivery id tag.
The endpoint also plays SES event publishing: every accepted message yields a
`Send` event, applied at each reconciler tick the way the feedback poller
applies what SNS → SQS brings (that path itself is tested against moto).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from worker.bench.corpus import record
from worker.bench.fake_ses import Account, Arrival, FakeSes
from worker.bench.rows import BenchRow
from worker.bench.scale import Scale
from worker.core.delivery_states import State
from worker.core.models import Delivery
from worker.core.runtime import Runtime, fixed_clock
from worker.feedback.store import record_feedback
from worker.queue.actors import install
from worker.queue.broker import drain
from worker.queue.pipeline import publish, schedule_digests
from worker.queue.runner import wake_stranded
from worker.subscriptions.lists import import_subscriptions
from worker.subscriptions.rows import parse_row

KEY = "fault-run-secret-key-0123456789abcdef"
# Settings the workers must not take from the caller: ours, AWS's, and any metrics folder.
OWN_SETTINGS = (
    "TRIALALERTS_",
    "AWS_",
    "dramatiq_prom",
    "PROMETHEUS_MULTIPROC",
    "prometheus_multiproc",
)
STUDY_PUBLISHED = datetime(2026, 6, 28, 18, tzinfo=UTC)
DIGESTS_DUE = datetime(2026, 6, 29, 8, 0, 1, tzinfo=UTC)


def fault_scale(default: int) -> int:
    """Digests per fault test: TRIALALERTS_FAULT_DIGESTS, else `default` (small in CI)."""
    return int(os.environ.get("TRIALALERTS_FAULT_DIGESTS", default))


def prepare_digests(runtime: Runtime, count: int) -> None:
    """`count` subscribers whose daily digest (one new lung cancer study) is due."""
    rows = [
        (
            n + 2,
            parse_row(
                {"email": f"s{n}@example.org", "kind": "condition", "condition": "lung cancer"}
            ),
        )
        for n in range(count)
    ]
    with runtime.sessions() as session, session.begin():
        import_subscriptions(session, rows, runtime.now())
    stub = StubBroker()
    install(stub)
    runtime.clock = fixed_clock(STUDY_PUBLISHED)
    publish({"specversion": "1.0", "id": "fault-1", "source": "faults",
             "type": "gov.clinicaltrials.study.created", "time": STUDY_PUBLISHED.isoformat(),
             "data": record("NCT04267848")})  # fmt: skip
    drain(stub)


class Deployment:
    """Worker processes the test supervises, a fake SES endpoint, the scheduler's duties."""

    def __init__(self, runtime: Runtime, redis_url: str, tmp_path: Path) -> None:
        self.runtime, self.redis_url, self.tmp_path = runtime, redis_url, tmp_path
        self.ses = FakeSes(account=Account(max_send_rate=100_000, max_24_hour_send=10**9))
        self.ses.keep_raw = False
        self.events: list[str] = []
        self.ses.on_send = self._publish_send_event
        self.ses.start()
        self.workers: list[subprocess.Popen[bytes]] = []
        self.log = (tmp_path / "workers.log").open("ab")
        self.broker = install(RedisBroker(url=redis_url))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
        return env | {
            "TRIALALERTS_DATABASE_URL": self.runtime.settings.database_url,
            "TRIALALERTS_BROKER_URL": self.redis_url,
            "TRIALALERTS_EMAIL_BACKEND": "ses",
            "TRIALALERTS_SECRET_KEY": KEY,
            "TRIALALERTS_METRICS_PORT": "0",
            "TRIALALERTS_METRICS_DIR": str(self.tmp_path / "metrics"),  # if metrics are turned on
            "TRIALALERTS_SES_ACCOUNT_CHECK_SECONDS": "5",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_SESV2": self.ses.url,
            "dramatiq_queue_prefetch": "8",
        }

    def start_workers(self, processes: int = 2, threads: int = 4) -> None:
        self.workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "worker",
                    "worker",
                    "--processes",
                    str(processes),
                    "--threads",
                    str(threads),
                ],
                env=self.env(),
                cwd=self.tmp_path,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def kill_workers(self) -> None:
        """SIGKILL every worker process (master and children): nothing gets to clean up."""
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)
        self.workers.clear()

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        self.workers.clear()
        self.ses.stop()
        self.broker.close()
        self.log.close()

    def claim_due_digests(self) -> int:
        self.runtime.clock = fixed_clock(DIGESTS_DUE)
        return schedule_digests(self.runtime)

    def _publish_send_event(self, arrival: Arrival) -> None:
        """What SES event publishing would put on the feedback queue for this message."""
        mail = {"messageId": arrival.message_id, "destination": list(arrival.to),
                "timestamp": datetime.now(UTC).isoformat(),
                "tags": {key: [value] for key, value in arrival.tags.items()}}  # fmt: skip
        message = json.dumps({"eventType": "Send", "mail": mail, "send": {}})
        self.events.append(json.dumps({"Type": "Notification", "MessageId": arrival.message_id,
                                       "Message": message}))  # fmt: skip

    def apply_feedback(self) -> None:
        taken, self.events = self.events, []
        if taken:
            with self.runtime.sessions() as session, session.begin():
                record_feedback(session, taken, datetime.now(UTC))

    def reconcile(self, grace: timedelta = timedelta(seconds=3)) -> int:
        """The scheduler's ticks: feedback first, then the reconciler, at wall-clock time."""
        self.runtime.clock = lambda: datetime.now(UTC)
        self.apply_feedback()
        return wake_stranded(self.runtime, grace)

    def states(self) -> Counter[str]:
        with self.runtime.sessions() as session:
            return Counter(
                dict(
                    session.execute(
                        select(Delivery.state, func.count()).group_by(Delivery.state)
                    ).all()
                )
            )

    def sends_per_delivery(self) -> Counter[str]:
        return Counter(arrival.tags.get("delivery", "?") for arrival in self.ses.arrivals)

    def run_until_sent(
        self, expected: int, timeout: float, on_progress: Callable[[int], None] = lambda sent: None
    ) -> Counter[str]:
        deadline = time.monotonic() + timeout
        last_reconcile = 0.0
        while time.monotonic() < deadline:
            sent = len(self.ses.arrivals)
            on_progress(sent)
            states = self.states()
            if states.get(State.SENT, 0) >= expected and sent >= expected:
                return states
            if time.monotonic() - last_reconcile > 2:
                self.reconcile()
                last_reconcile = time.monotonic()
            time.sleep(0.2)
        raise AssertionError(
            f"not all sent within {timeout:.0f} s: {dict(self.states())}, "
            f"{len(self.ses.arrivals)} arrivals"
        )


REDIS_URL = os.environ.get("TRIALALERTS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def sigkill_ten_times(deployment: Deployment, expected: int) -> None:
    """SIGKILL every worker process ten times, evenly through the run, restarting each time."""
    kills: list[int] = []
    step = max(expected // 11, 1)

    def kill_now_and_then(sent: int) -> None:
        if len(kills) < 10 and sent >= step * (len(kills) + 1):
            deployment.kill_workers()
            kills.append(sent)
            deployment.start_workers()

    deployment.run_until_sent(expected, timeout=600 + expected / 20, on_progress=kill_now_and_then)
    if len(kills) < 10:
        raise AssertionError(f"the run ended after {len(kills)} kills: {kills}")


def flush_redis_once(deployment: Deployment, expected: int) -> None:
    """FLUSHALL once a third of the digests are out: every queued message is lost."""
    import redis

    flushed: list[int] = []

    def flush(sent: int) -> None:
        if not flushed and sent >= expected // 3:
            redis.Redis.from_url(deployment.redis_url).flushall()
            flushed.append(sent)

    deployment.run_until_sent(expected, timeout=300 + expected / 20, on_progress=flush)
    if not flushed:
        raise AssertionError("the run ended before Redis was flushed")


FAULTS: dict[str, Callable[[Deployment, int], None]] = {
    "SIGKILL of the workers x10": sigkill_ten_times,
    "FLUSHALL of Redis mid-run": flush_redis_once,
}


def fault_rows(scale: Scale) -> list[BenchRow]:
    """Each fault at size: digests that arrived exactly once, out of those claimed."""
    from tempfile import TemporaryDirectory

    import redis

    from worker.bench.databases import throwaway_postgres
    from worker.bench.scale import by_scale
    from worker.core.config import Settings
    from worker.core.runtime import set_runtime

    count = by_scale(scale, 200, 2_000, 20_000)
    rows = []
    for name, fault in FAULTS.items():
        with throwaway_postgres() as url, TemporaryDirectory() as folder:
            redis.Redis.from_url(REDIS_URL).flushdb()
            runtime = Runtime(Settings(database_url=url, broker_url=REDIS_URL, secret_keys=(KEY,),
                                       sending_lease_seconds=5))  # fmt: skip
            set_runtime(runtime)
            prepare_digests(runtime, count)
            deployment = Deployment(runtime, REDIS_URL, Path(folder))
            start = time.perf_counter()
            try:
                expected = deployment.claim_due_digests()
                deployment.start_workers()
                fault(deployment, expected)
            finally:
                deployment.stop()
                set_runtime(None)
                runtime.close()
            sends = deployment.sends_per_delivery()
            once = sum(1 for n in sends.values() if n == 1)
            twice = sum(1 for n in sends.values() if n > 1)
            note = (f"{expected - len(sends)} lost, {twice} sent twice; "
                    f"{time.perf_counter() - start:.0f} s, 2 processes x 4 threads")  # fmt: skip
            label = f"faults: {name}, {count:,} digests"
            rows.append(BenchRow(label, once, "sent exactly once", expected, "digests claimed",
                                 "every one, none twice", note))  # fmt: skip
    return rows
