"""Known activity on known days, to check what the overview counts against.

NOW is 2026-06-30 12:00 UTC, so the overview shows 2026-06-01 … 2026-06-30.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from worker.core.delivery_states import State
from worker.core.models import (
    DeadLetter,
    Delivery,
    Notification,
    ReceivedEvent,
    StudyChange,
    Subscriber,
    Suppression,
)
from worker.core.runtime import Runtime

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)

# What the charts must show (days not listed: 0).
SENT = {date(2026, 6, 28): 3, date(2026, 6, 29): 2}
BOUNCED = {date(2026, 6, 29): 1}
COMPLAINED = {date(2026, 6, 29): 1}
INGESTED = {date(2026, 6, 15): 4, date(2026, 6, 30): 1}
DEAD_LETTERS = {date(2026, 6, 20): 2}
WAITING = 2
SUPPRESSED = 1
BY_STATE = {"bounced": 1, "complained": 1, "delivered": 2, "queued": 1, "sent": 2}


def _at(day: int, hour: int, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def seed_activity(runtime: Runtime) -> None:
    """Rows whose times sit on day edges: 23:30 UTC is the next day east of UTC."""
    with runtime.sessions() as session, session.begin():
        ada = Subscriber(email="ada@example.org", created_at=_at(1, 0))
        session.add(ada)
        session.flush()
        sends = [
            # (sent at, state, state changed at)
            (_at(28, 0, 5), State.DELIVERED, _at(28, 0, 6)),
            (_at(28, 12), State.BOUNCED, _at(29, 10)),
            (_at(28, 23, 30), State.COMPLAINED, _at(29, 23, 30)),
            (_at(29, 8), State.SENT, _at(29, 8)),
            (_at(29, 9), State.SENT, _at(29, 9)),
            (_at(31, 23, 59, month=5), State.DELIVERED, _at(1, 0, 1)),  # before the 30 days
            (None, State.QUEUED, _at(30, 11)),
        ]
        for n, (sent_at, state, changed_at) in enumerate(sends):
            session.add(
                Delivery(
                    subscriber_id=ada.id,
                    frequency="daily",
                    window=_at(1, n),
                    state=state,
                    created_at=_at(1, n),
                    updated_at=changed_at,
                    sent_at=sent_at,
                )
            )
        ingested = [_at(15, h) for h in (0, 6, 12, 23)] + [_at(30, 1), None]
        events = []
        for n, ingested_at in enumerate(ingested):
            received = ReceivedEvent(
                source="test",
                event_id=f"e{n}",
                type="org.clinicaltrials.study.updated",
                nct_id="NCT00000001",
                received_at=_at(15, 0),
                outcome="ingested" if ingested_at else "pending",
                ingested_at=ingested_at,
                payload="{}",
            )
            session.add(received)
            events.append(received)
        session.flush()
        change = StudyChange(
            nct_id="NCT00000001", event_pk=events[0].id, kind="updated", created_at=_at(15, 0)
        )
        other = StudyChange(
            nct_id="NCT00000001", event_pk=events[1].id, kind="updated", created_at=_at(15, 6)
        )
        session.add_all([change, other])
        session.flush()
        for made in (change, other):
            session.add(
                Notification(
                    subscriber_id=ada.id,
                    change_id=made.id,
                    nct_id="NCT00000001",
                    subscription_ids=[1],
                    frequency="daily",
                    created_at=_at(15, 0),
                )
            )
        for n in range(2):
            session.add(
                DeadLetter(
                    origin="test",
                    reason="bad",
                    payload=f"payload {n}",
                    fingerprint=f"{n:064d}",
                    created_at=_at(20, 5 + n),
                )
            )
        session.add(Suppression(email="eve@example.org", reason="complaint", created_at=_at(2, 0)))
