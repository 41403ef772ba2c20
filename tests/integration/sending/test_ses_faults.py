"""Each SES error class, over real HTTP, on PostgreSQL + Redis: what happens to the deliveries.

The stand-in endpoint (worker.bench.fake_ses) answers the way SES does when it
throttles, fails, rejects, pauses the account, runs out of quota, or answers
too late; the pacer and the hold live in Redis, shared by every worker.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy import select, update

from tests.conftest import TEST_KEY, _truncate
from tests.ses_support import fake_ses as fake_ses  # noqa: F401 - fixture
from tests.ses_support import queue_deliveries
from worker.bench.fake_ses import (
    FakeSes,
    Fault,
    late,
    paused_account,
    quota_spent,
    rejected,
    server_error,
    too_fast,
)
from worker.bench.sample_deliveries import QUEUED_AT
from worker.core.config import Settings
from worker.core.models import Delivery, Subscription, Suppression
from worker.core.runtime import Runtime
from worker.sending import attempt as send_attempt
from worker.sending.attempt import NotSent, send_single
from worker.sending.loop import CHUNK, SendingHeld, SendResult, send_deliveries
from worker.sending.outbox import Sender
from worker.sending.pacer import SendingStopped
from worker.sending.rows import (
    GAVE_UP,
    IN_FLIGHT,
    RESEND,
    claim_for_sending,
    mark_in_flight,
    release_stale_sending,
)
from worker.sending.senders import make_sender
from worker.sending.ses_options import SesOptions

CHECK_SECONDS = 1.0  # long enough for a loaded machine to do the steps before it
# A hold that must outlast several steps (queries, a second worker's client, a send):
# 0.3 s measured on a loaded 2-core machine, over a second possible on a slower one.
LONG_CHECK_SECONDS = 4.0
SHORT_READ = 0.5  # seconds: the timeout tests' impatience
NOW = QUEUED_AT + timedelta(minutes=1)


@pytest.fixture
def runtime(pg_url: str, redis_url: str, tmp_path: Path, fake_ses: FakeSes) -> Iterator[Runtime]:
    """PostgreSQL (schema in place) and Redis shared by every worker."""
    _truncate(pg_url)
    assert fake_ses.account is not None
    fake_ses.account.max_send_rate = 1000
    settings = Settings(
        database_url=pg_url,
        broker_url=redis_url,
        email_backend="ses",
        secret_keys=(TEST_KEY,),
        ses_configuration_set="trialalerts",
        outbox=tmp_path / "outbox",
    )
    runtime = Runtime(settings)
    yield runtime
    runtime.close()


def worker_sender(
    runtime: Runtime, read_timeout: float = 10.0, check_seconds: float = CHECK_SECONDS
) -> Sender:
    """What one worker process builds: its own client and gate, Redis shared with the rest."""
    options = SesOptions(account_check_seconds=check_seconds, read_timeout=read_timeout)
    return make_sender(runtime.settings, options)


@pytest.fixture
def sender(runtime: Runtime) -> Sender:
    return worker_sender(runtime)


def send(runtime: Runtime, ids: list[int], sender: Sender) -> SendResult:
    return send_deliveries(runtime.sessions, runtime.settings, sender, ids, NOW)


def rows(runtime: Runtime) -> list[Delivery]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def states(runtime: Runtime) -> list[str]:
    return [row.state for row in rows(runtime)]


def test_a_sent_delivery_keeps_the_message_id_and_carries_its_tags(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    result = send(runtime, [delivery_id], sender)
    [arrival] = fake_ses.arrivals
    [row] = rows(runtime)
    assert result.sent == [delivery_id]
    assert (row.state, row.message_id, row.attempts) == ("sent", arrival.message_id, 1)
    assert arrival.tags == {"delivery": str(delivery_id), "frequency": "daily"}
    assert arrival.configuration_set == "trialalerts"
    assert arrival.to == ("reader00000@example.org",)


def test_too_fast_slows_the_shared_pacer_and_is_not_a_failure(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    fake_ses.script(too_fast(), too_fast())
    result = send(runtime, [delivery_id], sender)
    assert result.sent == [delivery_id] and result.throttled == 2
    assert sender.gate.pacer.rate() < 0.9 * 1000  # type: ignore[attr-defined]
    another_worker = worker_sender(runtime)
    assert another_worker.gate.pacer.rate() < 0.9 * 1000  # type: ignore[attr-defined]
    [row] = rows(runtime)
    assert (row.state, row.attempts, row.last_error) == ("sent", 1, None)


def test_too_fast_again_and_again_goes_back_to_the_queue_unsent(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    fake_ses.script(*[too_fast()] * (send_attempt.RATE_RETRIES + 1))
    result = send(runtime, [delivery_id], sender)
    [row] = rows(runtime)
    assert result.requeued == [delivery_id] and not result.failed
    assert (row.state, row.attempts) == ("queued", 0)
    assert "TooManyRequestsException" in (row.last_error or "")
    assert send(runtime, [delivery_id], sender).sent == [delivery_id]


def test_a_paused_account_stops_every_worker_keeps_deliveries_queued_and_resumes(
    runtime: Runtime, fake_ses: FakeSes, caplog: pytest.LogCaptureFixture
) -> None:
    sender = worker_sender(runtime, check_seconds=LONG_CHECK_SECONDS)
    ids = queue_deliveries(runtime, 3)
    fake_ses.script(paused_account())
    with caplog.at_level(logging.WARNING, logger="worker.sending.ses"):
        with pytest.raises(SendingHeld) as held:
            send(runtime, ids, sender)
        assert held.value.hold.code == "SendingPausedException"
        assert fake_ses.send_requests == 1  # the first refusal stopped the batch
        assert states(runtime) == ["queued"] * 3
        assert [row.attempts for row in rows(runtime)] == [0, 0, 0]
        assert any(
            r.levelno == logging.CRITICAL and "SendingPausedException" in r.getMessage()
            for r in caplog.records
        )
        other = worker_sender(runtime, check_seconds=LONG_CHECK_SECONDS)
        with pytest.raises(SendingStopped):
            other.gate.wait_for_slot()  # type: ignore[attr-defined]
        with pytest.raises(SendingHeld):
            send(runtime, ids, other)
        assert fake_ses.send_requests == 1

        # GetAccount says healthy at the recheck (the turn to check starts just after the hold)
        time.sleep(max(0.0, held.value.hold.recheck_at - time.time()) + 0.5)
        result = send(runtime, ids, other)
    assert sorted(result.sent) == ids
    assert states(runtime) == ["sent"] * 3
    assert any("resumed" in r.getMessage() for r in caplog.records)


def test_an_account_that_get_account_reports_disabled_stays_held_until_enabled(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    ids = queue_deliveries(runtime, 2)
    fake_ses.paused = True
    for wait in (CHECK_SECONDS + 0.1, 0.0):  # held at start, and still held at the recheck
        with pytest.raises(SendingHeld) as held:
            send(runtime, ids, sender)
        assert held.value.hold.code == "GetAccount"
        time.sleep(wait)
    assert fake_ses.send_requests == 0 and states(runtime) == ["queued", "queued"]
    fake_ses.paused = False
    time.sleep(CHECK_SECONDS + 0.1)
    assert send(runtime, ids, sender).sent == ids
    assert fake_ses.account_reads == 3


def test_a_spent_quota_pauses_digests_until_there_is_room_again(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    assert fake_ses.account is not None
    fake_ses.account.max_24_hour_send = 2
    ids = queue_deliveries(runtime, 4)
    with pytest.raises(SendingHeld) as held:
        send(runtime, ids[:3], sender)
    assert held.value.hold.reason == "quota"
    assert states(runtime) == ["sent", "sent", "paused", "queued"]
    assert fake_ses.send_requests == 2  # our own count stopped before SES had to
    with pytest.raises(SendingHeld):
        send(runtime, ids[3:], sender)
    assert states(runtime) == ["sent", "sent", "paused", "paused"]

    fake_ses.account.sent_last_24_hours = 0  # the rolling 24 hours moved on
    time.sleep(CHECK_SECONDS + 0.1)
    result = send(runtime, [], sender)
    assert result.resumed == ids[2:]
    assert send(runtime, ids[2:], sender).sent == ids[2:]
    assert states(runtime) == ["sent"] * 4


def test_ses_saying_the_quota_is_spent_pauses_digests(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    ids = queue_deliveries(runtime, 2)
    fake_ses.script(quota_spent())
    with pytest.raises(SendingHeld) as held:
        send(runtime, ids, sender)
    assert held.value.hold.code == "LimitExceededException"
    assert states(runtime) == ["paused", "paused"]
    assert [row.attempts for row in rows(runtime)] == [0, 0]


def test_a_rejected_message_fails_and_is_never_retried(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    ids = queue_deliveries(runtime, 2)
    fake_ses.script(rejected())
    result = send(runtime, ids, sender)
    assert [delivery_id for delivery_id, _ in result.failed] == ids[:1]
    assert result.sent == ids[1:]
    assert send(runtime, ids, sender) == SendResult()
    assert fake_ses.send_requests == 2
    first = rows(runtime)[0]
    assert first.state == "failed" and "MessageRejected" in (first.last_error or "")


def test_server_errors_are_retried_with_backoff_then_sent(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    fake_ses.script(server_error(500), server_error(503))
    assert send(runtime, [delivery_id], sender).sent == [delivery_id]
    assert fake_ses.send_requests == 3


def test_a_delivery_that_keeps_failing_transiently_fails_after_bounded_attempts(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_attempt, "BACKOFF_MULTIPLIER", 0.001)
    [delivery_id] = queue_deliveries(runtime, 1)
    tries = send_attempt.TRANSIENT_TRIES
    seen = []
    for _ in range(send_attempt.MAX_SEND_ATTEMPTS):
        fake_ses.script(*[server_error()] * tries)
        send(runtime, [delivery_id], sender)
        [row] = rows(runtime)
        seen.append((row.state, row.attempts))
    assert seen == [("queued", n) for n in range(1, 5)] + [("failed", 5)]
    assert fake_ses.send_requests == tries * send_attempt.MAX_SEND_ATTEMPTS
    assert "gave up after 5 attempts" in (rows(runtime)[0].last_error or "")


def test_a_timeout_after_sending_is_retried_once_and_counted(
    runtime: Runtime, fake_ses: FakeSes
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    fake_ses.script(late(3 * SHORT_READ, accept=True))
    result = send(runtime, [delivery_id], worker_sender(runtime, SHORT_READ))
    assert result.sent == [delivery_id] and result.uncertain_retries == 1
    first, second = fake_ses.arrivals  # SES took both: the duplicate the count admits
    assert first.tags["delivery"] == second.tags["delivery"] == str(delivery_id)
    assert rows(runtime)[0].message_id == second.message_id


def test_two_timeouts_fail_the_delivery_without_a_third_try(
    runtime: Runtime, fake_ses: FakeSes
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    fake_ses.script(late(3 * SHORT_READ, accept=False), late(3 * SHORT_READ, accept=False))
    result = send(runtime, [delivery_id], worker_sender(runtime, SHORT_READ))
    assert [i for i, _ in result.failed] == [delivery_id]
    assert fake_ses.send_requests == 2
    [row] = rows(runtime)
    assert row.state == "failed" and (row.last_error or "").startswith("uncertain:")


def test_when_ses_stops_answering_the_batch_stops_instead_of_failing_everything(
    runtime: Runtime, fake_ses: FakeSes
) -> None:
    ids = queue_deliveries(runtime, 4)
    fake_ses.script(*[late(3 * SHORT_READ, accept=False)] * 4)
    result = send(runtime, ids, worker_sender(runtime, SHORT_READ))
    assert [i for i, _ in result.failed] == ids[:2]
    assert result.requeued == ids[2:]
    assert states(runtime) == ["failed", "failed", "queued", "queued"]
    assert fake_ses.send_requests == 4


def test_suppression_and_unsubscribe_are_checked_again_right_before_sending(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    ids = queue_deliveries(runtime, 2 * CHUNK)
    bounced, gone = CHUNK + 3, CHUNK + 7  # both in the second chunk

    def meanwhile(_arrival: object) -> None:
        if len(fake_ses.arrivals) != 1:
            return
        with runtime.sessions() as session, session.begin():
            email = f"reader{bounced:05d}@example.org"
            session.add(Suppression(email=email, reason="bounce", created_at=NOW))
            session.execute(
                update(Subscription)
                .where(Subscription.subscriber_id == rows(runtime)[gone].subscriber_id)
                .values(active=False)
            )

    fake_ses.on_send = meanwhile
    result = send(runtime, ids, sender)
    assert result.suppressed == [ids[bounced], ids[gone]]
    assert len(result.sent) == 2 * CHUNK - 2
    assert f"reader{bounced:05d}@example.org" not in fake_ses.sent_to()


def test_two_workers_never_send_one_delivery_twice(runtime: Runtime, fake_ses: FakeSes) -> None:
    ids = queue_deliveries(runtime, 60)
    results: list[SendResult] = []

    senders = [worker_sender(runtime) for _ in range(3)]

    def worker(sender: Sender) -> None:
        results.append(send(runtime, ids, sender))

    threads = [threading.Thread(target=worker, args=(sender,)) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent_tags = sorted(int(arrival.tags["delivery"]) for arrival in fake_ses.arrivals)
    assert sent_tags == ids
    assert sorted(i for result in results for i in result.sent) == ids
    assert states(runtime) == ["sent"] * 60


def test_feedback_that_overtakes_the_record_of_the_send_is_kept(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)

    def delivered_at_once(_arrival: object) -> None:
        with runtime.sessions() as session, session.begin():
            session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(state="delivered")
            )

    fake_ses.on_send = delivered_at_once
    send(runtime, [delivery_id], sender)
    [row] = rows(runtime)
    assert (row.state, row.message_id) == ("delivered", fake_ses.arrivals[0].message_id)


def test_deliveries_a_stopped_worker_claimed_but_never_tried_go_back_as_they_were(
    runtime: Runtime,
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    with runtime.sessions() as session, session.begin():
        claim_for_sending(session, [delivery_id], NOW)
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    with runtime.sessions() as session, session.begin():
        assert release_stale_sending(session, NOW + lease, lease) == ([delivery_id], [])
    [row] = rows(runtime)
    assert (row.state, row.attempts, row.last_error) == ("queued", 0, None)


def test_a_delivery_whose_worker_stopped_during_the_ses_call_is_resent_at_most_once(
    runtime: Runtime,
) -> None:
    [delivery_id] = queue_deliveries(runtime, 1)
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    seen = []
    for _ in range(2):
        with runtime.sessions() as session, session.begin():
            claim_for_sending(session, [delivery_id], NOW)
            assert mark_in_flight(session, delivery_id, NOW, NOW + timedelta(seconds=1))
        with runtime.sessions() as session, session.begin():
            released = release_stale_sending(session, NOW + timedelta(hours=1), lease)
        [row] = rows(runtime)
        seen.append((released, row.state, row.attempts))
    assert seen == [(([delivery_id], []), "queued", 1), (([], [delivery_id]), "failed", 2)]
    assert (rows(runtime)[0].last_error or "").startswith("uncertain:")


@pytest.mark.parametrize(
    "between",
    [
        pytest.param([paused_account()], id="held"),
        pytest.param([too_fast()] * (send_attempt.RATE_RETRIES + 1), id="too-fast"),
        pytest.param([server_error()] * send_attempt.TRANSIENT_TRIES, id="server-errors"),
    ],
)
def test_a_resent_delivery_is_given_up_at_its_second_interrupted_send_whatever_came_between(
    runtime: Runtime,
    fake_ses: FakeSes,
    sender: Sender,
    monkeypatch: pytest.MonkeyPatch,
    between: list[Fault],
) -> None:
    """The first interrupted send may have reached SES: a claim that goes back to the
    queue in between (held, too fast, server errors) does not wipe that out, or the
    second interrupted send would be resent again."""
    monkeypatch.setattr(send_attempt, "BACKOFF_MULTIPLIER", 0.001)
    [delivery_id] = queue_deliveries(runtime, 1)
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)

    def cut_off_during_the_ses_call(at: datetime) -> tuple[list[int], list[int]]:
        with runtime.sessions() as session, session.begin():
            claim_for_sending(session, [delivery_id], at)
            assert mark_in_flight(session, delivery_id, at, at)
        with runtime.sessions() as session, session.begin():
            return release_stale_sending(session, at + lease, lease)

    assert cut_off_during_the_ses_call(NOW) == ([delivery_id], [])
    fake_ses.script(*between)
    with contextlib.suppress(SendingHeld):
        assert send(runtime, [delivery_id], sender).requeued == [delivery_id]
    [row] = rows(runtime)
    assert (row.state, row.last_error) == ("queued", RESEND)
    assert cut_off_during_the_ses_call(NOW + timedelta(hours=1)) == ([], [delivery_id])
    [row] = rows(runtime)
    assert (row.state, row.last_error) == ("failed", GAVE_UP)


def test_a_worker_never_sends_a_delivery_taken_from_it(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender
) -> None:
    first, second = queue_deliveries(runtime, 2)
    taken_at = NOW + timedelta(minutes=30)

    def released_and_claimed_elsewhere(_arrival: object) -> None:
        with runtime.sessions() as session, session.begin():
            session.execute(
                update(Delivery).where(Delivery.id == second).values(updated_at=taken_at)
            )

    fake_ses.on_send = released_and_claimed_elsewhere
    result = send(runtime, [first, second], sender)
    assert result.sent == [first]
    assert [arrival.tags["delivery"] for arrival in fake_ses.arrivals] == [str(first)]
    sent, taken = rows(runtime)
    assert sent.state == "sent" and sent.message_id == fake_ses.arrivals[0].message_id
    assert (taken.state, taken.updated_at, taken.attempts) == ("sending", taken_at, 0)


def test_a_failure_before_the_request_leaves_hands_the_rest_back_unsent(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = queue_deliveries(runtime, 3)
    pacer = sender.gate.pacer  # type: ignore[attr-defined]
    slots = iter([pacer.acquire, redis.ConnectionError("Redis went away")])

    def acquire(while_waiting: object = None) -> float:
        step = next(slots)
        if isinstance(step, Exception):
            raise step
        return step()

    monkeypatch.setattr(pacer, "acquire", acquire)
    with pytest.raises(redis.ConnectionError):
        send(runtime, ids, sender)
    assert [(r.state, r.attempts, r.last_error) for r in rows(runtime)] == [
        ("sent", 1, None),
        ("queued", 0, "interrupted"),
        ("queued", 0, "interrupted"),
    ]
    assert len(fake_ses.arrivals) == 1


def test_a_send_cut_off_after_its_request_went_out_stays_in_flight_for_the_reconciler(
    runtime: Runtime, fake_ses: FakeSes, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dramatiq's time limit (an exception raised in the worker's thread) lands while SES
    answers the second message: SES has it, so it is not handed back as never sent (it
    would go again with nothing said); it stays in flight, as if its worker had stopped."""
    ids = queue_deliveries(runtime, 3)
    request = sender.send

    def send_then_time_limit(**message: object) -> str:
        message_id = request(**message)  # type: ignore[arg-type]
        if len(fake_ses.arrivals) == 2:
            raise TimeLimitExceeded()
        return message_id

    monkeypatch.setattr(sender, "send", send_then_time_limit)
    with pytest.raises(TimeLimitExceeded):
        send(runtime, ids, sender)
    assert [(r.state, r.attempts, r.last_error) for r in rows(runtime)] == [
        ("sent", 1, None),
        ("sending", 1, IN_FLIGHT),
        ("queued", 0, "interrupted"),
    ]
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    with runtime.sessions() as session, session.begin():
        assert release_stale_sending(session, NOW + timedelta(hours=1), lease) == ([ids[1]], [])
    assert (rows(runtime)[1].state, rows(runtime)[1].last_error) == ("queued", RESEND)


def test_a_worker_waiting_for_its_slot_has_marked_nothing_and_recorded_its_last_send(
    runtime: Runtime, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while it waits for a pacing slot, a worker leaves no row in flight that SES
    never saw (it would be resent as a possible duplicate, and given up the second time)
    and no sent one looking in flight."""
    ids = queue_deliveries(runtime, 3)
    pacer = sender.gate.pacer  # type: ignore[attr-defined]
    granted = pacer.acquire
    seen: list[list[tuple[str, int, str | None]]] = []

    def acquire(while_waiting: Callable[[], None] | None = None) -> float:
        if while_waiting is not None:
            while_waiting()  # every slot here is some way off
        seen.append([(r.state, r.attempts, r.last_error) for r in rows(runtime)])
        return granted()

    monkeypatch.setattr(pacer, "acquire", acquire)
    result = send(runtime, ids, sender)
    assert sorted(result.sent) == ids
    waiting = ("sending", 0, None)
    assert seen == [
        [waiting, waiting, waiting],
        [("sent", 1, None), waiting, waiting],
        [("sent", 1, None), ("sent", 1, None), waiting],
    ]


def test_a_single_message_outside_the_queue_goes_through_the_same_gate(
    fake_ses: FakeSes, sender: Sender
) -> None:
    raw = b"From: alerts@trialalerts.example\r\nTo: new@example.org\r\nSubject: Confirm\r\n\r\nHi"

    def confirm() -> str:
        tags = {"kind": "confirm"}
        return send_single(sender, to_addr="new@example.org", raw=raw, delivery_id=-7, tags=tags)

    assert confirm() == fake_ses.arrivals[0].message_id
    fake_ses.script(rejected())
    with pytest.raises(NotSent) as refused:
        confirm()
    assert refused.value.state == "failed"
    fake_ses.script(paused_account())
    with pytest.raises(NotSent) as held:
        confirm()
    assert held.value.state == "queued"
