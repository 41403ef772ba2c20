"""Fan-out in bounded chunks: a popular event's rows are made a range of subscribers at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.support import event, record
from worker.core.models import Notification, Subscriber
from worker.core.runtime import Runtime
from worker.matching import fanout

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


def test_one_event_with_more_rows_than_a_chunk_is_written_a_few_subscribers_at_a_time(
    runtime: Runtime, stub_broker: StubBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        {"email": f"p{i}@example.org", "kind": "condition", "condition": "lung cancer"}
        for i in range(7)
    ]
    rows += [
        {"email": "p3@example.org", "kind": "condition", "condition": "non-small cell lung cancer"},
        {"email": "p3@example.org", "kind": "study", "nct_id": "NCT04267848"},
    ]
    subscribe(runtime, rows)
    written: list[int] = []
    write = fanout.write_notifications

    def counted(session: Any, made: list[dict[str, Any]]) -> None:
        written.append(len(made))
        write(session, made)

    monkeypatch.setattr(fanout, "ROWS_PER_CHUNK", 2)
    monkeypatch.setattr(fanout, "write_notifications", counted)
    publish_at(runtime, stub_broker, T0, event(record("NCT04267848"), "c1"))
    with runtime.sessions() as session:
        found = session.execute(
            select(Subscriber.email, Notification.subscription_ids).join(
                Subscriber, Subscriber.id == Notification.subscriber_id
            )
        ).all()
    assert sorted(email for email, _ in found) == [f"p{i}@example.org" for i in range(7)]
    assert {email: len(ids) for email, ids in found}["p3@example.org"] == 3
    assert sum(written) == 7 and max(written) <= 2


def test_counting_the_subscriptions_of_more_criteria_than_a_statement_has_placeholders(
    runtime: Runtime,
) -> None:
    """A batch may fire more criteria than PostgreSQL's 65,535 parameters of one statement."""
    subscribe(runtime, [{"email": "p@example.org", "kind": "condition", "condition": "asthma"}])
    with runtime.sessions() as session:
        criteria_id = session.scalars(select(fanout.Subscription.criteria_id)).one()
        counts = fanout._subscription_counts(session, {criteria_id, *range(10**9, 10**9 + 70_000)})
    assert counts == {criteria_id: 1}


def test_a_chunk_may_fire_more_criteria_than_a_statement_has_placeholders(
    runtime: Runtime,
) -> None:
    """Criteria without an active subscription weigh nothing, so one chunk may hold 70,000."""
    subscribe(runtime, [{"email": "p@example.org", "kind": "condition", "condition": "asthma"}])
    change = fanout.ChangeRef(1, 1, "NCT00000001", "status")
    with runtime.sessions() as session:
        criteria_id = session.scalars(select(fanout.Subscription.criteria_id)).one()
        fires: list[fanout.Fire] = [
            (pk, change, None) for pk in (criteria_id, *range(10**9, 10**9 + 70_000))
        ]
        rows = fanout._notification_rows(session, fires, {1: [change]}, T0, lambda _pk: None)  # type: ignore[arg-type,return-value]
    assert [row["change_id"] for row in rows] == [1]
