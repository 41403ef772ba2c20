"""Everything the console shows about one subscriber, read in a few indexed queries.

The subscriber row, each subscription with every filter it holds and its
state, the newest deliveries (state, SES MessageId, last error), the SES
bounce and complaint notifications about the address, and its suppression.

Feedback messages are kept as received (worker/feedback/store.py), with no
column naming the address: the newest FEEDBACK_WINDOW of them are searched
for it (a bounded read, not the whole table), which covers the recent past;
what an old hard bounce or complaint did stays visible as the suppression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from worker.core.models import (
    Delivery,
    FeedbackMessage,
    Study,
    Subscriber,
    Subscription,
    Suppression,
)
from worker.subscriptions.suppressions import SuppressedAddress
from worker.subscriptions.views import subscription_state

RECENT_DELIVERIES = 20
RECENT_FEEDBACK = 20
FEEDBACK_WINDOW = 50_000
FEEDBACK_KINDS = ("Bounce", "Complaint")  # stored as "Bounce/Permanent", "Complaint", …
_ESCAPE = "\\"


@dataclass(frozen=True)
class SubscriptionDetail:
    """One subscription with all it asks for, as words an admin reads."""

    id: int
    kind: str
    target: str  # the condition, or the followed NCT id
    title: str | None  # the followed study's title, when known
    frequency: str
    filters: tuple[tuple[str, str], ...]  # (name, value) of each filter given
    active: bool
    confirmed: bool
    created_at: datetime
    updated_at: datetime

    @property
    def state(self) -> str:
        return subscription_state(self.active, self.confirmed)


@dataclass(frozen=True)
class DeliveryLine:
    id: int
    frequency: str
    window: datetime
    state: str
    item_count: int
    message_id: str | None
    attempts: int
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class FeedbackLine:
    id: int
    kind: str | None
    outcome: str
    reason: str | None
    received_at: datetime


@dataclass(frozen=True)
class SubscriberRecord:
    id: int
    email: str
    timezone: str
    send_hour: int
    soft_bounces: int
    created_at: datetime
    suppression: SuppressedAddress | None
    subscriptions: list[SubscriptionDetail]
    deliveries: list[DeliveryLine]
    feedback: list[FeedbackLine]


def subscriber_record(session: Session, subscriber_id: int) -> SubscriberRecord | None:
    """The subscriber with `subscriber_id`, or None when there is none."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return None
    suppression = session.get(Suppression, subscriber.email)
    return SubscriberRecord(
        id=subscriber.id,
        email=subscriber.email,
        timezone=subscriber.timezone,
        send_hour=subscriber.send_hour,
        soft_bounces=subscriber.soft_bounces,
        created_at=subscriber.created_at,
        suppression=(
            SuppressedAddress(suppression.email, suppression.reason, suppression.created_at)
            if suppression is not None
            else None
        ),
        subscriptions=_subscriptions(session, subscriber.id),
        deliveries=_deliveries(session, subscriber.id),
        feedback=_feedback(session, subscriber.email),
    )


def _subscriptions(session: Session, subscriber_id: int) -> list[SubscriptionDetail]:
    rows = session.execute(
        select(Subscription, Study.title)
        .outerjoin(Study, Study.nct_id == Subscription.nct_id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(Subscription.id)
    )
    return [
        SubscriptionDetail(
            id=sub.id,
            kind=sub.kind,
            target=(sub.condition if sub.kind == "condition" else sub.nct_id) or "",
            title=title if sub.kind == "study" else None,
            frequency=sub.frequency,
            filters=filters_of(sub),
            active=bool(sub.active),
            confirmed=bool(sub.confirmed),
            created_at=sub.created_at,
            updated_at=sub.updated_at,
        )
        for sub, title in rows
    ]


def filters_of(sub: Subscription) -> tuple[tuple[str, str], ...]:
    """Every filter the subscription was given, by its import column name."""
    filters: list[tuple[str, str]] = []
    if sub.statuses:
        filters.append(("statuses", ";".join(sub.statuses)))
    if sub.countries:
        filters.append(("countries", ";".join(sub.countries)))
    if sub.near_km is not None:
        point = f"{sub.near_lat!r},{sub.near_lon!r}"
        where = f"{sub.near_place} ({point})" if sub.near_place else point
        filters.append(("near", f"within {sub.near_km:g} km of {where}"))
    if sub.age is not None:
        filters.append(("age", str(sub.age)))
    if sub.sex:
        filters.append(("sex", sub.sex))
    if sub.healthy_volunteers:
        filters.append(("healthy_volunteers", "true"))
    if sub.phases:
        filters.append(("phases", ";".join(sub.phases)))
    if sub.study_types:
        filters.append(("study_types", ";".join(sub.study_types)))
    return tuple(filters)


def _deliveries(session: Session, subscriber_id: int) -> list[DeliveryLine]:
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.window.desc(), Delivery.id.desc())
        .limit(RECENT_DELIVERIES)
    )
    return [
        DeliveryLine(
            row.id,
            row.frequency,
            row.window,
            row.state,
            row.item_count,
            row.message_id,
            row.attempts,
            row.last_error,
            row.sent_at,
        )
        for row in rows
    ]


def _feedback(session: Session, email: str) -> list[FeedbackLine]:
    """Bounces and complaints naming the address among the newest FEEDBACK_WINDOW messages.

    The address is matched right after a quote, as JSON writes it, so that
    "ada@x.org" does not find "linda@x.org"; inside an SNS envelope the
    quote is escaped (\\"), which the pattern allows too.
    """
    recent = (
        select(FeedbackMessage.id)
        .order_by(FeedbackMessage.id.desc())
        .limit(FEEDBACK_WINDOW)
        .subquery()
    )
    literal = _like_literal(email)
    named = or_(
        FeedbackMessage.payload.like(f'%"{literal}"%', escape=_ESCAPE),
        FeedbackMessage.payload.like(f'%"{literal}{_ESCAPE}{_ESCAPE}"%', escape=_ESCAPE),
    )
    rows = session.execute(
        select(
            FeedbackMessage.id,
            FeedbackMessage.kind,
            FeedbackMessage.outcome,
            FeedbackMessage.reason,
            FeedbackMessage.received_at,
        )
        .join(recent, recent.c.id == FeedbackMessage.id)
        .where(or_(*(FeedbackMessage.kind.startswith(kind) for kind in FEEDBACK_KINDS)), named)
        .order_by(FeedbackMessage.id.desc())
        .limit(RECENT_FEEDBACK)
    )
    return [
        FeedbackLine(row.id, row.kind, row.outcome, row.reason, row.received_at) for row in rows
    ]


def _like_literal(text: str) -> str:
    for char in (_ESCAPE, "%", "_"):
        text = text.replace(char, _ESCAPE + char)
    return text


def as_audit(detail: SubscriptionDetail) -> dict[str, Any]:
    """What an audit entry keeps of a subscription: what it is and its state."""
    return {
        "subscription": detail.id,
        "kind": detail.kind,
        "target": detail.target,
        "frequency": detail.frequency,
        "active": detail.active,
        "confirmed": detail.confirmed,
    }
