"""The sending lease: a live worker keeps its rows, a stopped one loses them, nothing goes twice.

Runs on SQLite and PostgreSQL with an in-process sender that takes its time:
the reconciler (`wake_stranded`, the scheduler's job) runs while a chunk is
being worked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, text, update

from tests.conftest import make_runtime
from worker.bench.sample_deliveries import queue_deliveries
from worker.core.delivery_states import State
from worker.core.models import Delivery, Subscription, Suppression
from worker.core.runtime import Runtime
from worker.queue.runner import wake_stranded
from worker.sending.attempt import Attempt
from worker.sending.loop import send_deliveries
from worker.sending.rows import (
    IN_FLIGHT,
    Outcome,
    claim_for_sending,
    mark_in_flight,
    record_outcomes,
)


class SlowSender:
    """Takes `seconds` per message; remembers every delivery id it was asked to send."""

    def __init__(self, seconds: float, meanwhile: Callable[[int], None] | None = None) -> None:
        self.seconds, self.meanwhile = seconds, meanwhile
        self.sent: list[int] = []

    def send(self, *, to_addr: str, raw: bytes, delivery_id: int, tags: dict[str, str]) -> str:
        time.sleep(self.seconds)
        self.sent.append(delivery_id)
        if self.meanwhile is not None:
            self.meanwhile(len(self.sent))
        return f"msg-{delivery_id}-{len(self.sent)}"


@pytest.fixture
def runtime_with(
    database_url: str, tmp_path: Path, stub_broker: StubBroker
) -> Iterator[Callable[..., Runtime]]:
    """Builds a runtime on the test's database with these settings; closed afterwards."""
    built: list[Runtime] = []

    def build(**settings: object) -> Runtime:
        built.append(make_runtime(database_url, tmp_path, **settings))
        return built[-1]

    yield build
    for runtime in built:
        runtime.close()


def rows(runtime: Runtime) -> list[Delivery]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def wait_until_blocked(runtime: Runtime, thread: threading.Thread) -> None:
    """Until `thread` waits for a lock (PostgreSQL: a row lock; SQLite: the write lock)."""
    if runtime.engine.dialect.name != "postgresql":
        time.sleep(0.5)
    else:
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 10
        with runtime.engine.connect() as connection:
            while not connection.scalar(waiting) and time.monotonic() < deadline:
                connection.rollback()
                time.sleep(0.02)
    assert thread.is_alive()


def test_a_reclaim_never_takes_a_row_marked_in_flight_while_it_waited(
    runtime_with: Callable[..., Runtime],
) -> None:
    runtime = runtime_with()
    [delivery] = queue_deliveries(runtime.sessions, 1)
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    now = datetime.now(UTC)
    claimed_at = now - lease - timedelta(seconds=5)  # the reconciler finds it stale…
    with runtime.sessions() as session, session.begin():
        claim_for_sending(session, [delivery], claimed_at)
    with runtime.engine.connect() as worker:
        # …while its worker marks it in flight with a fresh stamp, not yet committed.
        assert mark_in_flight(worker, delivery, claimed_at, now)
        reclaim = threading.Thread(target=wake_stranded, args=(runtime, None))
        reclaim.start()
        wait_until_blocked(runtime, reclaim)
        worker.commit()  # the worker goes on to call SES
    reclaim.join()
    [row] = rows(runtime)
    assert (row.state, row.last_error, row.attempts) == (State.SENDING, IN_FLIGHT, 1)

    with runtime.engine.begin() as worker:
        sent = Outcome(delivery, Attempt(State.SENT, "ses-message-1"), now, True)
        record_outcomes(worker, [sent], now)
    [row] = rows(runtime)
    assert (row.state, row.message_id) == (State.SENT, "ses-message-1")


def test_a_chunk_slower_than_the_lease_keeps_its_rows_and_sends_each_once(
    runtime_with: Callable[..., Runtime],
) -> None:
    runtime = runtime_with(sending_lease_seconds=2)
    ids = queue_deliveries(runtime.sessions, 6)
    sender = SlowSender(0.5)  # the chunk takes 3 s, the lease is 2 s
    stop = threading.Event()

    def reconciler() -> None:  # the scheduler's reconcile job, ticking fast
        while not stop.is_set():
            wake_stranded(runtime, None)
            time.sleep(0.05)

    ticking = threading.Thread(target=reconciler)
    ticking.start()
    try:
        first = send_deliveries(runtime.sessions, runtime.settings, sender, ids, datetime.now(UTC))
    finally:
        stop.set()
        ticking.join()
    # A second worker woken for whatever the reconciler put back.
    send_deliveries(runtime.sessions, runtime.settings, sender, ids, datetime.now(UTC))

    assert sorted(sender.sent) == ids  # each exactly once
    assert first.sent == ids  # nothing was taken from the live worker
    assert [(r.state, r.message_id is not None) for r in rows(runtime)] == [("sent", True)] * 6


def test_an_address_stopped_between_two_messages_of_one_chunk_is_not_sent_to(
    runtime_with: Callable[..., Runtime],
) -> None:
    runtime = runtime_with()
    ids = queue_deliveries(runtime.sessions, 5)
    bounced, unsubscribed = rows(runtime)[2], rows(runtime)[3]

    def after_the_first(sent: int) -> None:
        if sent != 1:
            return
        with runtime.sessions() as session, session.begin():
            email = "reader00002@example.org"
            session.add(Suppression(email=email, reason="bounce", created_at=datetime.now(UTC)))
            session.execute(
                update(Subscription)
                .where(Subscription.subscriber_id == unsubscribed.subscriber_id)
                .values(active=False)
            )

    sender = SlowSender(0, after_the_first)
    result = send_deliveries(runtime.sessions, runtime.settings, sender, ids, datetime.now(UTC))
    assert sender.sent == [ids[0], ids[1], ids[4]]
    assert result.suppressed == [bounced.id, unsubscribed.id]
    assert [r.state for r in rows(runtime)] == ["sent", "sent", "suppressed", "suppressed", "sent"]


def test_a_message_slower_than_the_lease_is_settled_by_its_late_answer_not_resent(
    runtime_with: Callable[..., Runtime],
) -> None:
    runtime = runtime_with(sending_lease_seconds=1)
    [delivery] = queue_deliveries(runtime.sessions, 1)
    sender = SlowSender(2.5)  # the reconciler takes it back as uncertain meanwhile
    stop = threading.Event()

    def reconciler() -> None:
        while not stop.is_set():
            wake_stranded(runtime, None)
            time.sleep(0.05)

    ticking = threading.Thread(target=reconciler)
    ticking.start()
    try:
        send_deliveries(runtime.sessions, runtime.settings, sender, [delivery], datetime.now(UTC))
    finally:
        stop.set()
        ticking.join()
    [row] = rows(runtime)
    assert (row.state, row.message_id, row.last_error) == ("sent", f"msg-{delivery}-1", None)
    # The worker woken for the taken-back row finds nothing left to send.
    send_deliveries(runtime.sessions, runtime.settings, sender, [delivery], datetime.now(UTC))
    assert sender.sent == [delivery]
