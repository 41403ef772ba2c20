"""One subscriber as the console shows them: filters, deliveries, bounces, suppression."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.feedback_support import bounce, complaint, sns_envelope
from worker.core.delivery_states import State
from worker.core.models import Delivery, Subscriber
from worker.core.runtime import Runtime
from worker.feedback.store import record_feedback
from worker.subscriptions.lists import import_subscriptions
from worker.subscriptions.rows import parse_row
from worker.subscriptions.subscriber_record import subscriber_record

NOW = datetime(2026, 6, 27, 9, 0, tzinfo=UTC)


def _subscribe(runtime: Runtime, *rows: dict[str, str]) -> int:
    items = [(line, parse_row(fields)) for line, fields in enumerate(rows, start=2)]
    with runtime.sessions() as session, session.begin():
        report = import_subscriptions(session, items, NOW)
        assert not report.rejected, report.rejected
        return session.scalars(select(Subscriber.id).order_by(Subscriber.id)).first() or 0


def test_record_holds_every_filter_state_delivery_and_bounce_of_that_address_only(
    runtime: Runtime,
) -> None:
    ada = _subscribe(
        runtime,
        {
            "email": "ada@example.org",
            "kind": "condition",
            "condition": "Head and Neck Cancer",
            "frequency": "weekly",
            "statuses": "RECRUITING",
            "countries": "Italy",
            "near": "45.38,9.16,50",
            "timezone": "Europe/Rome",
        },
        {
            "email": "ada@example.org",
            "kind": "study",
            "nct_id": "NCT07635641",
            "timezone": "Europe/Rome",
        },
        {"email": "linda@example.org", "kind": "condition", "condition": "Asthma"},
    )
    with runtime.sessions() as session, session.begin():
        for day, state, message_id in (
            (1, State.BOUNCED, "0100018f-ada-1"),
            (2, State.SENT, "0100018f-ada-2"),
        ):
            session.add(
                Delivery(
                    subscriber_id=ada,
                    frequency="weekly",
                    window=NOW + timedelta(days=day),
                    state=state,
                    item_count=3,
                    message_id=message_id,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        bodies = [
            json.dumps(sns_envelope(bounce(["ada@example.org"], message_id="0100018f-ada-1"))),
            json.dumps(complaint(["ada@example.org"])),
            json.dumps(bounce(["linda@example.org"], message_id="0100018f-linda")),
        ]
        record_feedback(session, bodies, NOW)

    with runtime.sessions() as session:
        record = subscriber_record(session, ada)

    assert record is not None
    assert record.email == "ada@example.org" and record.timezone == "Europe/Rome"
    condition, study = record.subscriptions
    assert (condition.kind, condition.target, condition.frequency) == (
        "condition",
        "Head and Neck Cancer",
        "weekly",
    )
    assert dict(condition.filters) == {
        "statuses": "RECRUITING",
        "countries": "Italy",
        "near": "within 50 km of 45.38,9.16",
    }
    # The complaint stopped every subscription of the address.
    assert (study.target, study.filters) == ("NCT07635641", ())
    assert [sub.state for sub in record.subscriptions] == ["stopped", "stopped"]
    # Newest window first, each with SES's MessageId and its state (feedback moved the first).
    assert [d.message_id for d in record.deliveries] == ["0100018f-ada-2", "0100018f-ada-1"]
    assert record.deliveries[0].state == State.SENT
    assert record.deliveries[1].state in (State.BOUNCED, State.COMPLAINED)
    assert sorted(item.kind for item in record.feedback) == ["Bounce/Permanent", "Complaint"]
    assert record.suppression is not None
    assert "bounce" in record.suppression.reason


def test_an_unknown_subscriber_has_no_record(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        assert subscriber_record(session, 12345) is None
