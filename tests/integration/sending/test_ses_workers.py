"""Four dramatiq worker processes share one SES rate: no second over the limit.

The workers send 2,000 queued digests (600 when CI=true, to keep CI short)
through the stand-in SES endpoint, whose account allows 100 sends a second
and answers 429 beyond that.  The shared pacer aims at 90 % of it.  The
pacer lives in Redis whatever the broker: on RabbitMQ (1,200 digests, the
same limiter reached through TRIALALERTS_REDIS_URL) the workers share it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import TEST_KEY, _truncate
from tests.ses_support import fake_ses as fake_ses  # noqa: F401 - fixture
from tests.ses_support import queue_deliveries
from worker.bench.fake_ses import FakeSes, busiest_second
from worker.core.config import Settings
from worker.core.models import Delivery
from worker.core.runtime import Runtime

REPO = Path(__file__).resolve().parents[3]
# 12 batches of 100 keep most of the 16 threads sending for about 13 s at 90 a second.
MESSAGES = 1200
LIMIT = 100  # the account's MaxSendRate
BATCH = 100  # deliveries per wake-up message, as the pipeline sends them
RECONCILE_SECONDS = 10  # wake deliveries handed back to the queue (transient errors)


def enqueue_batches(broker_url: str, ids: list[int]) -> None:
    from worker.queue import actors
    from worker.queue.broker import make_broker

    broker = make_broker(Settings(broker_url=broker_url, metrics_port=0))
    actors.declare(broker)
    send = broker.get_actor("deliveries.send")
    for start in range(0, len(ids), BATCH):
        send.send(ids[start : start + BATCH])
    broker.close()


def by_state(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        return {state: count for state, count in rows}


def wake_queued(broker_url: str, runtime: Runtime) -> None:
    """The scheduler's reconciler: deliveries handed back to the queue get a new wake-up."""
    with runtime.sessions() as session:
        queued = list(session.scalars(select(Delivery.id).where(Delivery.state == "queued")))
    enqueue_batches(broker_url, queued)


@pytest.mark.alone  # other tests' CPU load would delay requests past their slots
def test_four_worker_processes_stay_under_the_account_rate_together(
    pg_url: str, broker_url: str, redis_url: str, fake_ses: FakeSes, tmp_path: Path
) -> None:
    messages = MESSAGES
    _truncate(pg_url)
    assert fake_ses.account is not None
    fake_ses.account.max_send_rate = LIMIT
    fake_ses.enforce_rate = True
    fake_ses.keep_raw = False
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    env.update(
        TRIALALERTS_DATABASE_URL=pg_url,
        TRIALALERTS_BROKER_URL=broker_url,
        TRIALALERTS_REDIS_URL=redis_url,
        TRIALALERTS_EMAIL_BACKEND="ses",
        TRIALALERTS_SECRET_KEY=TEST_KEY,
        TRIALALERTS_METRICS_PORT="0",  # no shared metrics folder or port: not measured here
    )
    log = (tmp_path / "workers.log").open("wb")
    workers = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "worker.queue.tasks",
            "--processes",
            "4",
            "--threads",
            "4",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    runtime = Runtime(Settings(database_url=pg_url))
    try:
        ids = queue_deliveries(runtime, messages)
        enqueue_batches(broker_url, ids)
        deadline = time.monotonic() + 3 * messages / (0.9 * LIMIT) + 30
        next_wake = time.monotonic() + RECONCILE_SECONDS
        while by_state(runtime).get("sent", 0) < messages and time.monotonic() < deadline:
            assert workers.poll() is None, (tmp_path / "workers.log").read_text()[-3000:]
            if time.monotonic() > next_wake:
                wake_queued(broker_url, runtime)
                next_wake = time.monotonic() + RECONCILE_SECONDS
            time.sleep(0.25)
    finally:
        workers.send_signal(signal.SIGTERM)
        try:
            workers.wait(timeout=30)
        except subprocess.TimeoutExpired:
            workers.kill()
            workers.wait()
        log.close()
        states = by_state(runtime)
        runtime.close()

    assert states == {"sent": messages}, (tmp_path / "workers.log").read_text()[-3000:]
    delivered = sorted(int(arrival.tags["delivery"]) for arrival in fake_ses.arrivals)
    assert delivered == ids  # each exactly once
    assert fake_ses.throttled == 0
    assert busiest_second(fake_ses.request_times) <= LIMIT
    took = max(fake_ses.request_times) - min(fake_ses.request_times)
    expected = messages / (0.9 * LIMIT)
    assert 0.8 * expected <= took <= 1.35 * expected, f"{took:.1f} s for {messages}"
