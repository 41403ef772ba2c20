"""Queued digest deliveries written straight into the tables, for send tests and benchmarks.

Each of `count` subscribers gets one daily delivery in `queued` with one
notification bound to it: exactly what the digest builder leaves behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from worker.core.delivery_states import State
from worker.core.models import (
    Delivery,
    Notification,
    ReceivedEvent,
    Study,
    StudyChange,
    Subscriber,
    Subscription,
)

QUEUED_AT = datetime(2026, 6, 29, 8, tzinfo=UTC)


def queue_deliveries(
    sessions: Any, count: int, *, domain: str = "example.org", now: datetime = QUEUED_AT
) -> list[int]:
    """`count` subscribers, each with one daily delivery queued and one notification bound.

    Written straight into the tables (a few statements), so send tests and
    benchmarks start where the digest builder leaves off.  Once per database.
    """
    with sessions() as session, session.begin():
        event_pk = session.execute(
            insert(ReceivedEvent)
            .values(
                source="https://clinicaltrials.gov",
                event_id="send-test",
                type="gov.clinicaltrials.study.updated",
                nct_id="NCT04267848",
                received_at=now,
                outcome="ingested",
                payload="{}",
            )
            .returning(ReceivedEvent.id)
        ).scalar_one()
        session.execute(
            insert(Study).values(
                nct_id="NCT04267848",
                event_pk=event_pk,
                title="A study of lung cancer screening",
                status="RECRUITING",
                summary={},
                updated_at=now,
            )
        )
        change_id = session.execute(
            insert(StudyChange)
            .values(nct_id="NCT04267848", event_pk=event_pk, kind="new_study", created_at=now)
            .returning(StudyChange.id)
        ).scalar_one()
        subscriber_ids = session.scalars(
            insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True),
            [
                {"email": f"reader{n:05d}@{domain}", "timezone": "UTC", "created_at": now}
                for n in range(count)
            ],
        ).all()
        subscription_ids = session.scalars(
            insert(Subscription).returning(Subscription.id, sort_by_parameter_order=True),
            [
                {
                    "subscriber_id": sid,
                    "identity": "condition:lung cancer",
                    "kind": "condition",
                    "condition": "lung cancer",
                    "frequency": "daily",
                    "statuses": [],
                    "countries": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for sid in subscriber_ids
            ],
        ).all()
        delivery_ids = session.scalars(
            insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True),
            [
                {
                    "subscriber_id": sid,
                    "frequency": "daily",
                    "window": now,
                    "state": State.QUEUED,
                    "item_count": 1,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for sid in subscriber_ids
            ],
        ).all()
        session.execute(
            insert(Notification),
            [
                {
                    "subscriber_id": sid,
                    "change_id": change_id,
                    "nct_id": "NCT04267848",
                    "subscription_ids": [sub_id],
                    "frequency": "daily",
                    "created_at": now,
                    "delivery_id": did,
                }
                for sid, sub_id, did in zip(
                    subscriber_ids, subscription_ids, delivery_ids, strict=True
                )
            ],
        )
    return list(delivery_ids)
