"""A real dramatiq Worker, on Redis and on RabbitMQ, works what was published, on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq import Worker
from sqlalchemy import func, select

from tests.conftest import _truncate, make_runtime
from tests.support import event, real_record_names, record
from worker.core.models import ReceivedEvent, Study
from worker.core.runtime import Runtime, set_runtime
from worker.queue.actors import install
from worker.queue.broker import make_broker
from worker.queue.pipeline import publish


@pytest.fixture
def broker_runtime(
    pg_url: str, broker_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Runtime]:
    _truncate(pg_url)
    runtime = make_runtime(
        pg_url, tmp_path, broker_url=broker_url, redis_url=redis_url, metrics_port=0
    )
    set_runtime(runtime)
    broker = install(make_broker(runtime.settings))
    yield runtime
    broker.close()
    set_runtime(None)
    runtime.close()


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached within timeout")


def test_a_worker_ingests_published_events(broker_runtime: Runtime) -> None:
    from dramatiq import get_broker

    broker = get_broker()
    worker = Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        report = publish([event(record(name), f"r-{name}") for name in real_record_names()])
        assert report.accepted == 7

        def all_ingested() -> bool:
            with broker_runtime.sessions() as session:
                pending = session.scalar(
                    select(func.count())
                    .select_from(ReceivedEvent)
                    .where(ReceivedEvent.outcome == "pending")
                )
                studies = session.scalar(select(func.count()).select_from(Study))
            return pending == 0 and studies == 7

        _wait_for(all_ingested)
    finally:
        worker.stop()


def test_a_worker_mails_the_confirmation_of_a_web_sign_up_once(
    broker_runtime: Runtime,
) -> None:
    from dramatiq import get_broker

    from worker.core.models import Signup
    from worker.queue.broker import enqueue
    from worker.web.app import create_app

    client = create_app(broker_runtime).test_client()
    answer = client.post("/signup", data={"email": "ada@example.org", "condition": "melanoma"})
    assert answer.status_code == 303
    outbox = Path(broker_runtime.settings.outbox)
    assert not list(outbox.glob("*.eml"))  # waiting in the broker for a worker
    with broker_runtime.sessions() as session:
        [signup_id] = session.scalars(select(Signup.id)).all()
    enqueue(broker_runtime.settings, "signups.mail", [signup_id])  # a duplicate wake-up

    worker = Worker(get_broker(), worker_threads=4, worker_timeout=100)
    worker.start()
    try:

        def mailed() -> bool:
            with broker_runtime.sessions() as session:
                return session.scalar(select(Signup.mailed_at)) is not None

        _wait_for(mailed)
        get_broker().join("signups", timeout=30_000)
    finally:
        worker.stop()
    assert len(list(outbox.glob("*.eml"))) == 1
