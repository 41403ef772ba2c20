"""A deployment in miniature for fault runs: PostgreSQL, a broker, dramatiq worker processes
sending through a local SES endpoint, and the caller as scheduler and supervisor.

Used by the fault tests (small) and by `trialalerts bench --only faults` (full size).

Counts are taken at the SES endpoint: each arrival carries its delivery id tag.
The endpoint also plays SES event publishing (worker.bench.send_events): an
accepted message yields a `Send` event, instantly for the tests, seconds
later in the bench, or never with publishing off; due events are applied at
each reconciler tick the way the feedback poller applies what SNS → SQS
brings (that path itself is tested against moto).  After each SIGKILL the
deliveries left in flight are counted, and so are those the reconciler takes
back in flight from a worker stalled past its lease: those are the interrupted
sends, the only ones that may be sent twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Engine, Row, func, make_url, select, text

from worker.bench.corpus import record
from worker.bench.fake_ses import Account, FakeSes
from worker.bench.send_events import SendEvents
from worker.core.delivery_states import State
from worker.core.models import Delivery
from worker.core.runtime import Runtime, fixed_clock
from worker.feedback.store import record_feedback
from worker.queue.actors import install
from worker.queue.broker import drain, make_broker
from worker.queue.pipeline import publish, schedule_digests
from worker.queue.runner import wake_stranded
from worker.sending.rows import (
    GAVE_UP,
    IN_FLIGHT_MARKS,
    release_stale_sending,
    stale_sending,
)
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
OPEN_STATES = (State.BUILDING, State.QUEUED, State.SENDING, State.PAUSED)  # work left to do
STUDY_PUBLISHED = datetime(2026, 6, 28, 18, tzinfo=UTC)
DIGESTS_DUE = datetime(2026, 6, 29, 8, 0, 1, tzinfo=UTC)
WORKERS_APPLICATION = "trialalerts-fault-workers"  # names the workers' PostgreSQL sessions
_SENDING = Delivery.state == State.SENDING
_IN_FLIGHT_OF = (Delivery.id, Delivery.attempts, Delivery.last_error)


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
    """Worker processes the test supervises, a fake SES endpoint, the scheduler's duties.

    `send_events` plays SES event publishing (default: each Send event at once).
    """

    def __init__(
        self,
        runtime: Runtime,
        broker_url: str,
        tmp_path: Path,
        send_events: SendEvents | None = None,
    ) -> None:
        self.runtime, self.broker_url, self.tmp_path = runtime, broker_url, tmp_path
        self.ses = FakeSes(account=Account(max_send_rate=100_000, max_24_hour_send=10**9))
        self.ses.keep_raw = False
        self.send_events = send_events or SendEvents()
        self.ses.on_send = self.send_events.on_send
        self.ses.start()
        self.workers: list[subprocess.Popen[bytes]] = []
        self._interrupted: set[tuple[str, int]] = set()  # (delivery id, attempt)
        self.lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
        self.log = (tmp_path / "workers.log").open("ab")
        settings = replace(runtime.settings, broker_url=broker_url, metrics_port=0)
        self.broker = install(make_broker(settings))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
        return env | {
            "TRIALALERTS_DATABASE_URL": named_sessions(self.runtime.settings.database_url),
            "TRIALALERTS_BROKER_URL": self.broker_url,
            "TRIALALERTS_EMAIL_BACKEND": "ses",
            "TRIALALERTS_SECRET_KEY": KEY,
            # The workers renew their claims by the lease the reconciler here takes them back by.
            "TRIALALERTS_SENDING_LEASE_SECONDS": str(self.runtime.settings.sending_lease_seconds),
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
        """SIGKILL every worker process (master and children): nothing gets to clean up.

        The deliveries then left in flight (marked right before their SES call)
        are the interrupted sends; one still stranded at the next kill is the
        same attempt, not a second interruption.
        """
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)
        self.workers.clear()
        wait_for_sessions_to_end(self.runtime.engine, WORKERS_APPLICATION)
        with self.runtime.sessions() as session:
            self._note_in_flight(session.execute(select(*_IN_FLIGHT_OF).where(_SENDING)))

    def _note_in_flight(self, rows: Iterable[Row[tuple[int, int, str | None]]]) -> None:
        """Of these (id, attempts, last_error) rows, add those in flight (marked, SES's
        answer not recorded) to the interrupted sends."""
        self._interrupted.update(
            (str(pk), attempt) for pk, attempt, error in rows if error in IN_FLIGHT_MARKS
        )

    def given_up(self) -> set[str]:
        """Deliveries failed because their send was cut off twice (rows.GAVE_UP)."""
        with self.runtime.sessions() as session:
            found = session.scalars(select(Delivery.id).where(Delivery.last_error == GAVE_UP))
            return {str(pk) for pk in found}

    @property
    def interrupted(self) -> Counter[str]:
        """Delivery id -> its interrupted sends: attempts in flight at a kill, or taken back
        by the reconciler from a worker stalled past its lease."""
        return Counter(delivery for delivery, _ in self._interrupted)

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

    def apply_feedback(self) -> None:
        """Store the Send events that have reached the feedback queue by now."""
        taken = self.send_events.take_due()
        if taken:
            with self.runtime.sessions() as session, session.begin():
                record_feedback(session, taken, datetime.now(UTC))

    def reconcile(self, grace: timedelta = timedelta(seconds=3)) -> int:
        """The scheduler's ticks: feedback first, then the reconciler, at wall-clock time."""
        now = datetime.now(UTC)
        self.runtime.clock = fixed_clock(now)
        try:
            self.apply_feedback()
            self._release_stale(now)
            return wake_stranded(self.runtime, grace)
        finally:
            self.runtime.clock = lambda: datetime.now(UTC)

    def _release_stale(self, now: datetime) -> None:
        """The reconciler's release, with the in-flight rows it takes back counted as
        interrupted sends (a worker stalled past its lease is treated as a stopped one).

        The stale rows are locked before they are read, so no worker marks or records
        one between the count and the release; `wake_stranded` then finds none left
        stale at the same instant (a row's stamp only moves forward).
        """
        with self.runtime.sessions() as session, session.begin():
            stale = stale_sending(now, self.lease)
            locked = select(*_IN_FLIGHT_OF).where(stale).order_by(Delivery.id).with_for_update()
            self._note_in_flight(session.execute(locked))
            release_stale_sending(session, now, self.lease)

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

    def run_until_settled(
        self, timeout: float, on_progress: Callable[[int], None] = lambda sent: None
    ) -> Counter[str]:
        """Tick as the scheduler does until no delivery has work left (sent, failed, ...)."""
        deadline = time.monotonic() + timeout
        last_reconcile = 0.0
        while time.monotonic() < deadline:
            on_progress(len(self.ses.arrivals))
            states = self.states()
            if not any(states.get(state, 0) for state in OPEN_STATES):
                return states
            if time.monotonic() - last_reconcile > 2:
                self.reconcile()
                last_reconcile = time.monotonic()
            time.sleep(0.2)
        raise AssertionError(f"work left after {timeout:.0f} s: {dict(self.states())}")

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


def sigkill_repeatedly(deployment: Deployment, expected: int, times: int) -> None:
    """SIGKILL every worker process `times` times, evenly through the run, restarting each time."""
    kills: list[int] = []
    step = max(expected // (times + 1), 1)

    def kill_now_and_then(sent: int) -> None:
        if len(kills) < times and sent >= step * (len(kills) + 1):
            deployment.kill_workers()
            kills.append(sent)
            deployment.start_workers()

    deployment.run_until_settled(timeout=600 + expected / 20, on_progress=kill_now_and_then)
    if len(kills) < times:
        raise AssertionError(f"the run ended after {len(kills)} kills: {kills}")


def sigkill_ten_times(deployment: Deployment, expected: int) -> None:
    sigkill_repeatedly(deployment, expected, 10)


def flush_redis_once(deployment: Deployment, expected: int) -> None:
    """Empty the deployment's Redis database once a third of the digests are out: every
    queued message is lost, and the pacer and holds with them (FLUSHDB: a Redis shared
    with others, such as a parallel test run's databases, keeps theirs)."""
    import redis

    flushed: list[int] = []

    def flush(sent: int) -> None:
        if not flushed and sent >= expected // 3:
            redis.Redis.from_url(deployment.broker_url).flushdb()
            flushed.append(sent)

    deployment.run_until_settled(timeout=300 + expected / 20, on_progress=flush)
    if not flushed:
        raise AssertionError("the run ended before Redis was flushed")


def wait_for_sessions_to_end(engine: Engine, application: str, timeout: float = 30) -> None:
    """A killed worker's COMMIT may still sit in its socket: PostgreSQL runs it before
    it reads the close.  Rows are counted once every session of `application` has ended."""
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            left = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": application},
            )
            connection.rollback()  # each look sees the sessions as they are now
            if not left:
                return
            time.sleep(0.02)
    raise AssertionError(f"sessions of {application} still open after {timeout:.0f} s")


def named_sessions(database_url: str) -> str:
    """The workers' database URL, their sessions named so a kill can wait for them to end."""
    url = make_url(database_url).update_query_dict({"application_name": WORKERS_APPLICATION})
    return url.render_as_string(hide_password=False)
