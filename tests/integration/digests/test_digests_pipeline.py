"""Digests through the pipeline on real databases: due at local times, once, never empty."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, update

from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.support import event, record
from worker.core.models import Delivery, Notification, Subscription, Suppression
from worker.core.runtime import Runtime

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)


def _outbox(runtime: Runtime) -> list[email.message.EmailMessage]:
    folder = Path(runtime.settings.outbox)
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def _lung(runtime: Runtime, broker: StubBroker, **row: str) -> None:
    subscribe(
        runtime,
        [{"email": "ada@example.org", "kind": "condition", "condition": "lung cancer", **row}],
    )
    publish_at(runtime, broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))


def test_a_daily_digest_goes_out_at_the_local_send_hour_once(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    _lung(runtime, stub_broker, frequency="daily", timezone="Europe/Rome")
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 5, 59, tzinfo=UTC)) == 0
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 6, 0, tzinfo=UTC)) == 1  # 08:00 CEST
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 6, 5, tzinfo=UTC)) == 0
    [message] = _outbox(runtime)
    assert message["To"] == "ada@example.org"
    assert message["Date"].endswith("+0200")
    assert "NCT04267848" in message.get_body(preferencelist=("plain",)).get_content()


def test_a_daily_digest_follows_the_clock_change_in_rome(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [
            {
                "email": "ada@example.org",
                "kind": "condition",
                "condition": "lung cancer",
                "timezone": "Europe/Rome",
            }
        ],
    )
    publish_at(
        runtime,
        stub_broker,
        datetime(2026, 10, 24, 18, tzinfo=UTC),
        event(record("NCT04267848"), "e1"),
    )
    assert tick(runtime, stub_broker, datetime(2026, 10, 25, 6, 30, tzinfo=UTC)) == 0
    assert tick(runtime, stub_broker, datetime(2026, 10, 25, 7, 0, tzinfo=UTC)) == 1  # 08:00 CET


def test_a_weekly_digest_goes_out_on_monday_at_the_local_hour(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    _lung(runtime, stub_broker, frequency="weekly", timezone="America/New_York")
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 11, 59, tzinfo=UTC)) == 0
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 12, 0, tzinfo=UTC)) == 1  # 08:00 EDT
    assert tick(runtime, stub_broker, datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == 0
    [message] = _outbox(runtime)
    assert "weekly" in message["List-Id"]


def test_weekly_and_monthly_alerts_each_get_their_own_digest(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [
            {
                "email": "ada@example.org",
                "kind": "condition",
                "condition": "atopic dermatitis",
                "frequency": "monthly",
                "timezone": "America/New_York",
            }
        ],
    )
    _lung(runtime, stub_broker, frequency="weekly", timezone="America/New_York")
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(record("NCT02210780"), "e2"))
    # Monday 2026-06-29, 08:00 EDT: the weekly digest; June's first Monday (the 1st) is past.
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 12, 0, tzinfo=UTC)) == 1
    # Monday 2026-07-06, the first Monday of July, 08:00 EDT: the monthly one.
    assert tick(runtime, stub_broker, datetime(2026, 7, 6, 11, 59, tzinfo=UTC)) == 0
    assert tick(runtime, stub_broker, datetime(2026, 7, 6, 12, 0, tzinfo=UTC)) == 1
    assert tick(runtime, stub_broker, datetime(2026, 7, 13, 12, 0, tzinfo=UTC)) == 0
    weekly, monthly = _outbox(runtime)
    assert "weekly" in weekly["List-Id"] and "monthly" in monthly["List-Id"]
    assert "NCT04267848" in weekly.get_body(preferencelist=("plain",)).get_content()
    monthly_text = monthly.get_body(preferencelist=("plain",)).get_content()
    assert "Here is your monthly digest." in monthly_text and "NCT02210780" in monthly_text


def test_an_instant_digest_waits_for_the_batching_window_unless_flushed(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    _lung(runtime, stub_broker, frequency="instant")
    assert tick(runtime, stub_broker, datetime(2026, 6, 28, 18, 0, 30, tzinfo=UTC)) == 0
    assert tick(runtime, stub_broker, datetime(2026, 6, 28, 18, 1, 0, tzinfo=UTC)) == 1
    publish_at(
        runtime,
        stub_broker,
        datetime(2026, 6, 28, 18, 2, tzinfo=UTC),
        event(record("NCT02513394"), "e2"),
    )
    subscribe(
        runtime,
        [
            {
                "email": "ada@example.org",
                "kind": "study",
                "nct_id": "NCT02513394",
                "frequency": "instant",
            }
        ],
    )
    changed = record("NCT02513394")
    changed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    changed["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-06-28"
    publish_at(
        runtime,
        stub_broker,
        datetime(2026, 6, 28, 18, 3, tzinfo=UTC),
        event(changed, "e3", time="2026-06-28T18:03:00Z"),
    )
    assert tick(runtime, stub_broker, datetime(2026, 6, 28, 18, 3, 1, tzinfo=UTC), flush=True) == 1
    assert len(_outbox(runtime)) == 2


def test_two_schedulers_claim_one_window_once(runtime: Runtime, stub_broker: StubBroker) -> None:
    from worker.queue.pipeline import schedule_digests

    _lung(runtime, stub_broker, frequency="daily")
    moment = datetime(2026, 6, 29, 8, tzinfo=UTC)
    tick(runtime, stub_broker, moment)
    assert schedule_digests(runtime) == 0
    with runtime.sessions() as session:
        assert len(session.scalars(select(Delivery)).all()) == 1


def test_nothing_pending_means_no_email(runtime: Runtime, stub_broker: StubBroker) -> None:
    subscribe(runtime, [{"email": "ada@example.org", "kind": "condition", "condition": "melanoma"}])
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))
    assert tick(runtime, stub_broker, datetime(2026, 6, 29, 8, tzinfo=UTC), flush=True) == 0
    assert _outbox(runtime) == []


def test_a_suppressed_or_unsubscribed_address_gets_nothing_at_send_time(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    _lung(runtime, stub_broker, frequency="daily")
    subscribe(
        runtime, [{"email": "bob@example.org", "kind": "condition", "condition": "lung cancer"}]
    )
    with runtime.sessions() as session, session.begin():
        session.add(
            Suppression(email="ada@example.org", reason="bounce", created_at=SUNDAY_EVENING)
        )
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(record("NCT02576665.partial"), "e9"))
    with runtime.sessions() as session, session.begin():
        session.execute(update(Subscription).values(active=False))
    tick(runtime, stub_broker, datetime(2026, 6, 29, 8, tzinfo=UTC))
    assert _outbox(runtime) == []
    with runtime.sessions() as session:
        states = sorted(session.scalars(select(Delivery.state)))
        undelivered = session.scalars(
            select(Notification).where(Notification.delivery_id.is_(None))
        ).all()
    assert states == ["suppressed", "suppressed"] and undelivered == []
