"""A real deployment in miniature for fault tests: PostgreSQL, Redis, dramatiq worker
processes sending through a local SES endpoint, and the test as scheduler/supervisor.

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

from tests.conftest import TEST_KEY
from tests.feedback_support import mail, send_event, sns_envelope
from tests.integration.pipeline_helpers import publish_at
from tests.support import event, record
from worker.broker import install
from worker.fake_ses import Account, Arrival, FakeSes
from worker.feedback_poll import record_feedback
from worker.models import Delivery
from worker.pipeline import schedule_digests
from worker.runner import wake_stranded
from worker.runtime import Runtime, fixed_clock
from worker.subscription_rows import parse_row
from worker.subscriptions import import_subscriptions

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
    publish_at(runtime, stub, STUDY_PUBLISHED, event(record("NCT04267848"), "fault-1"))


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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIALALERTS_", "AWS_"))}
        return env | {
            "TRIALALERTS_DATABASE_URL": self.runtime.settings.database_url,
            "TRIALALERTS_BROKER_URL": self.redis_url,
            "TRIALALERTS_EMAIL_BACKEND": "ses",
            "TRIALALERTS_SECRET_KEY": TEST_KEY,
            "TRIALALERTS_METRICS_PORT": "0",
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
        delivery_id = int(arrival.tags.get("delivery", "0"))
        record = send_event(arrival.to[0], arrival.message_id)
        record["mail"] = mail(arrival.message_id, list(arrival.to), delivery_id=delivery_id)
        self.events.append(json.dumps(sns_envelope(record)))

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
            if states.get("sent", 0) >= expected and sent >= expected:
                return states
            if time.monotonic() - last_reconcile > 2:
                self.reconcile()
                last_reconcile = time.monotonic()
            time.sleep(0.2)
        raise AssertionError(
            f"not all sent within {timeout:.0f} s: {dict(self.states())}, "
            f"{len(self.ses.arrivals)} arrivals"
        )
