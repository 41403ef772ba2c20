"""SES feedback end to end: SNS → SQS on a moto server over HTTP → poll → database → next digest."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, text

from tests.conftest import make_runtime
from tests.feedback_support import (
    FeedbackRoute,
    bounce,
    complaint,
    delivery,
    reject_event,
    sns_envelope,
)
from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.ses_support import moto_url as moto_url  # noqa: F401 - fixture
from tests.ses_support import use_aws
from tests.support import event, record
from worker.core.config import Settings
from worker.core.models import Delivery, FeedbackMessage, Subscriber, Subscription, Suppression
from worker.core.runtime import Runtime
from worker.feedback.messages import body_key
from worker.feedback.poll import PollResult, poll_feedback

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)
MONDAY_8 = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)
PEOPLE = ("ada@example.org", "bob@example.org", "cy@example.org")


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """AWS_* pointing at the session's moto server (each test makes its own topic and queue)."""
    use_aws(monkeypatch, tmp_path, moto_url)
    return moto_url


def _listening(runtime: Runtime, route: FeedbackRoute) -> Runtime:
    runtime.settings = replace(runtime.settings, feedback_queue_url=route.queue_url)
    return runtime


def _poll(runtime: Runtime) -> PollResult:
    return poll_feedback(runtime, wait_seconds=0)


def _lung_alerts(runtime: Runtime, broker: StubBroker, *emails: str) -> None:
    subscribe(
        runtime, [{"email": e, "kind": "condition", "condition": "lung cancer"} for e in emails]
    )
    publish_at(runtime, broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))


def _outbox_recipients(runtime: Runtime) -> list[str]:
    import email

    folder = Path(runtime.settings.outbox)
    return sorted(
        str(email.message_from_bytes(path.read_bytes())["To"]) for path in folder.glob("*.eml")
    )


def _suppressed(runtime: Runtime) -> dict[str, str]:
    with runtime.sessions() as session:
        return {
            row.email: row.reason
            for row in session.execute(select(Suppression.email, Suppression.reason))
        }


def _soft_bounces(runtime: Runtime, email: str) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(Subscriber.soft_bounces).where(Subscriber.email == email)) or 0


@pytest.mark.parametrize("raw", [False, True], ids=["sns-envelope", "raw-delivery"])
def test_a_permanent_bounce_and_a_complaint_suppress_and_the_next_digest_skips_them(
    runtime: Runtime, stub_broker: StubBroker, aws: str, raw: bool
) -> None:
    route = FeedbackRoute.create(raw=raw)
    _listening(runtime, route)
    _lung_alerts(runtime, stub_broker, *PEOPLE)
    route.publish(
        bounce(["ada@example.org"], publishing=True),
        complaint(["Bob@Example.org"], publishing=False),
    )

    result = _poll(runtime)

    assert (result.received, result.outcomes["handled"], result.deleted) == (2, 2, 2)
    assert sorted(result.suppressed) == ["ada@example.org", "bob@example.org"]
    assert _suppressed(runtime) == {
        "ada@example.org": "permanent bounce (General) 5.1.1",
        "bob@example.org": "complaint (abuse)",
    }
    assert route.counts() == (0, 0)
    with runtime.sessions() as session:
        active = session.execute(
            select(Subscriber.email, Subscription.active).join(
                Subscription, Subscription.subscriber_id == Subscriber.id
            )
        )
        assert {row.email: row.active for row in active} == {
            "ada@example.org": True,  # a bounce suppresses; only a complaint stops subscriptions
            "bob@example.org": False,
            "cy@example.org": True,
        }
    tick(runtime, stub_broker, MONDAY_8)
    assert _outbox_recipients(runtime) == ["cy@example.org"]


@pytest.mark.parametrize("raw", [False, True], ids=["sns-envelope", "raw-delivery"])
def test_the_same_message_twice_acts_once(runtime: Runtime, aws: str, raw: bool) -> None:
    route = FeedbackRoute.create(raw=raw)
    _listening(runtime, route)
    subscribe(runtime, [{"email": "ada@example.org", "kind": "study", "nct_id": "NCT04267848"}])
    soft = bounce(["ada@example.org"], bounce_type="Transient", sub_type="MailboxFull")
    body = json.dumps(soft if raw else sns_envelope(soft, message_id="sns-twice"))

    route.send_body(body)
    route.send_body(body)  # SNS delivers at least once
    first = _poll(runtime)
    route.send_body(body)  # and again, after the first copies were deleted
    second = _poll(runtime)

    assert (first.outcomes["handled"], first.duplicates, first.deleted) == (1, 1, 2)
    assert (second.outcomes["handled"], second.duplicates, second.deleted) == (0, 1, 1)
    assert _soft_bounces(runtime, "ada@example.org") == 1
    with runtime.sessions() as session:
        stored = session.scalars(select(FeedbackMessage.sns_message_id)).all()
    assert stored == [body_key(body) if raw else "sns-twice"]


def test_transient_bounces_are_counted_and_the_fifth_in_a_row_suppresses(
    runtime: Runtime, aws: str
) -> None:
    route = FeedbackRoute.create(raw=False)
    _listening(runtime, route)
    subscribe(runtime, [{"email": "ada@example.org", "kind": "study", "nct_id": "NCT04267848"}])

    def mailbox_full() -> dict[str, object]:
        return bounce(["ada@example.org"], bounce_type="Transient", sub_type="MailboxFull")

    route.publish(*(mailbox_full() for _ in range(4)))
    _poll(runtime)
    assert (_soft_bounces(runtime, "ada@example.org"), _suppressed(runtime)) == (4, {})

    route.publish(delivery(["ada@example.org"]))  # a delivery starts the count again
    _poll(runtime)
    assert _soft_bounces(runtime, "ada@example.org") == 0

    route.publish(*(mailbox_full() for _ in range(4)))
    _poll(runtime)
    assert _suppressed(runtime) == {}
    route.publish(bounce(["ada@example.org"], bounce_type="Undetermined", sub_type="Undetermined"))
    result = _poll(runtime)
    assert result.suppressed == ["ada@example.org"]
    assert _suppressed(runtime) == {"ada@example.org": "5 soft bounces in a row"}


def test_feedback_moves_the_sent_delivery_by_its_ses_message_id(
    runtime: Runtime, stub_broker: StubBroker, aws: str
) -> None:
    route = FeedbackRoute.create(raw=True)
    _listening(runtime, route)
    _lung_alerts(runtime, stub_broker, "ada@example.org")
    tick(runtime, stub_broker, MONDAY_8)
    with runtime.sessions() as session, session.begin():
        sent = session.scalars(select(Delivery)).one()
        session.execute(text("UPDATE subscribers SET soft_bounces = 3"))
    assert sent.state == "sent" and sent.message_id
    ada = ["ada@example.org"]
    # Identity notifications: no tags, so the SES MessageId alone finds the delivery.
    route.publish(delivery(ada, message_id=sent.message_id, publishing=False))
    _poll(runtime)
    assert _delivery(runtime) == ("delivered", datetime(2026, 6, 29, 6, 0, 3, 669000, tzinfo=UTC))
    assert _soft_bounces(runtime, "ada@example.org") == 0

    route.publish(bounce(ada, message_id=sent.message_id, publishing=False))  # bounced after all
    _poll(runtime)
    assert _delivery(runtime)[0] == "bounced"

    route.publish(delivery(ada, message_id=sent.message_id, publishing=False))  # late: no change
    _poll(runtime)
    assert _delivery(runtime)[0] == "bounced"


def test_feedback_that_overtakes_the_send_record_finds_the_delivery_by_its_tag(
    runtime: Runtime, stub_broker: StubBroker, aws: str
) -> None:
    route = FeedbackRoute.create(raw=False)
    _listening(runtime, route)
    _lung_alerts(runtime, stub_broker, "ada@example.org")
    tick(runtime, stub_broker, MONDAY_8)
    with runtime.sessions() as session, session.begin():
        delivery_id = session.scalars(select(Delivery.id)).one()
        session.execute(text("UPDATE deliveries SET state = 'sending', message_id = NULL"))

    route.publish(
        delivery(
            ["ada@example.org"], message_id="0100018f-not-recorded-yet", delivery_id=delivery_id
        )
    )
    _poll(runtime)

    assert _delivery(runtime)[0] == "delivered"


def _delivery(runtime: Runtime) -> tuple[str, datetime | None]:
    with runtime.sessions() as session:
        row = session.execute(select(Delivery.state, Delivery.delivered_at)).one()
    return row.state, row.delivered_at


def test_unknown_and_malformed_messages_are_kept_with_their_reason_then_deleted(
    runtime: Runtime, aws: str
) -> None:
    route = FeedbackRoute.create(raw=False)
    _listening(runtime, route)
    route.send_body("{not json")
    route.publish({"eventType": "Teleport", "mail": {}}, reject_event("ada@example.org"))

    result = _poll(runtime)

    assert dict(result.outcomes) == {"malformed": 1, "unknown": 1, "ignored": 1}
    assert (result.deleted, route.counts()) == (3, (0, 0))
    with runtime.sessions() as session:
        kept = {
            row.outcome: (row.kind, row.reason, row.payload)
            for row in session.scalars(select(FeedbackMessage))
        }
    assert kept["malformed"][0] is None and (kept["malformed"][1] or "").startswith("not JSON")
    assert kept["malformed"][2] == "{not json"
    assert kept["unknown"][:2] == ("Teleport", "unknown SES type 'Teleport'")
    assert kept["ignored"][:2] == ("Reject", "SES rejected the message before sending it")


def test_nothing_is_deleted_when_the_database_cannot_store_it(
    runtime: Runtime, aws: str, tmp_path: Path
) -> None:
    route = FeedbackRoute.create(raw=False, visibility_timeout=0)
    route.publish(bounce(["ada@example.org"]))
    unmigrated = Runtime(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'empty.db'}", feedback_queue_url=route.queue_url
        )
    )
    try:
        failed = _poll(unmigrated)
    finally:
        unmigrated.close()
    assert (failed.received, failed.failed, failed.deleted) == (1, 1, 0)
    assert route.counts() == (1, 0)  # still there for SQS to redeliver

    recovered = _poll(_listening(runtime, route))
    assert (recovered.outcomes["handled"], recovered.deleted, route.counts()) == (1, 1, (0, 0))
    assert "ada@example.org" in _suppressed(runtime)


def test_one_message_the_database_refuses_does_not_hold_back_its_batch(
    sqlite_url: str, tmp_path: Path, aws: str
) -> None:
    route = FeedbackRoute.create(raw=True, visibility_timeout=0)
    runtime = make_runtime(sqlite_url, tmp_path, feedback_queue_url=route.queue_url)
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON feedback_messages "
            "WHEN NEW.payload LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    route.publish(bounce(["ada@example.org"]), bounce(["poison@example.org"]))
    try:
        result = poll_feedback(runtime, wait_seconds=0, max_batches=1)
    finally:
        runtime.close()
    assert (result.received, result.outcomes["handled"], result.failed, result.deleted) == (
        2,
        1,
        1,
        1,
    )
    assert route.counts() == (1, 0)
    assert result.suppressed == ["ada@example.org"]


def test_without_a_queue_url_polling_does_nothing(runtime: Runtime) -> None:
    assert runtime.settings.feedback_queue_url is None
    assert poll_feedback(runtime) == PollResult()
