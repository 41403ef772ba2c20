"""Keep and apply a batch of SES feedback, however it came: the SQS poller or SNS over HTTPS.

Both hand over the SNS bodies as received (an SNS envelope, or with raw
message delivery the SES JSON itself). One batch is one transaction: every
message is stored in feedback_messages (unique SNS MessageId — a message
seen before is acknowledged without acting again) together with the
suppressions, soft-bounce counts, stopped subscriptions and delivery states
it causes. Unknown and malformed messages are stored too, with their reason
and the body as received: kept, in the database.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from worker.core.delivery_states import FEEDBACK_STATES, State, sources_of
from worker.core.models import Delivery, FeedbackMessage, Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.core.sql import insert_ignoring_conflicts, storable_text
from worker.feedback.messages import (
    SOFT_BOUNCE_LIMIT,
    Action,
    CountSoftBounce,
    Feedback,
    MarkDelivery,
    ResetSoftBounces,
    StopSubscriptions,
    Suppress,
    parse_feedback,
)
from worker.subscriptions.suppressions import suppress

log = logging.getLogger(__name__)

FEEDBACK = cast(Table, FeedbackMessage.__table__)
SUBSCRIBERS = cast(Table, Subscriber.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)
DELIVERIES = cast(Table, Delivery.__table__)


@dataclass
class FeedbackTally:
    """What the stored batches said, added up."""

    outcomes: Counter[str] = field(default_factory=Counter)  # handled/ignored/unknown/malformed
    duplicates: int = 0
    suppressed: list[str] = field(default_factory=list)  # addresses newly suppressed


@dataclass
class _Stored:
    fresh: list[Feedback] = field(default_factory=list)
    duplicates: int = 0
    suppressed: list[str] = field(default_factory=list)


def store_feedback(runtime: Runtime, bodies: Sequence[str], tally: FeedbackTally) -> bool:
    """Store and apply `bodies` in one transaction; False when the database refused it all."""
    try:
        with runtime.sessions() as session, session.begin():
            stored = record_feedback(session, bodies, runtime.now())
    except SQLAlchemyError:
        log.exception("could not store %d SES feedback message(s)", len(bodies))
        return False
    for feedback in stored.fresh:
        tally.outcomes[feedback.outcome] += 1
        if feedback.outcome in ("unknown", "malformed"):
            log.warning(
                "SES feedback %s kept as %s: %s", feedback.key, feedback.outcome, feedback.reason
            )
    tally.duplicates += stored.duplicates
    tally.suppressed += stored.suppressed
    return True


def record_feedback(session: Session, bodies: Sequence[str], now: datetime) -> _Stored:
    """Keep each message once (by key) and apply the actions of the ones not seen before."""
    stored = _Stored()
    by_key: dict[str, tuple[Feedback, str]] = {}
    for body in bodies:
        feedback = parse_feedback(body)
        if feedback.key in by_key:
            stored.duplicates += 1
        else:
            by_key[feedback.key] = (feedback, body)
    rows = [
        {
            "sns_message_id": feedback.key,
            "kind": feedback.kind,
            "outcome": feedback.outcome,
            "reason": feedback.reason,
            # PostgreSQL text cannot hold NUL; everything else is kept as received.
            "payload": storable_text(body),
            "received_at": now,
        }
        for feedback, body in by_key.values()
    ]
    inserted = {
        row.sns_message_id
        for row in insert_ignoring_conflicts(
            session, FEEDBACK, rows, returning=FEEDBACK.c.sns_message_id
        )
    }
    stored.duplicates += len(by_key) - len(inserted)
    stored.fresh = [feedback for key, (feedback, _) in by_key.items() if key in inserted]
    stored.suppressed = apply_actions(
        session, [action for feedback in stored.fresh for action in feedback.actions], now
    )
    return stored


def apply_actions(session: Session, actions: Sequence[Action], now: datetime) -> list[str]:
    """Apply a batch's actions, grouped by kind, a few statements in all.

    Order: soft-bounce resets, then counts (so a batch's deliveries cannot undo
    its bounces), suppressions, stopped subscriptions, delivery states.
    Returns the addresses newly suppressed.
    """
    resets = sorted({a.email for a in actions if isinstance(a, ResetSoftBounces)})
    counts = Counter(a.email for a in actions if isinstance(a, CountSoftBounce))
    to_suppress = [(a.email, a.reason) for a in actions if isinstance(a, Suppress)]
    to_stop = sorted({a.email for a in actions if isinstance(a, StopSubscriptions)})
    marks = [a for a in actions if isinstance(a, MarkDelivery)]
    if resets:
        session.execute(
            update(SUBSCRIBERS)
            .where(SUBSCRIBERS.c.email.in_(resets), SUBSCRIBERS.c.soft_bounces != 0)
            .values(soft_bounces=0)
        )
    if counts:
        to_suppress += _count_soft_bounces(session, counts)
    newly = suppress(session, to_suppress, now) if to_suppress else []
    if to_stop:
        people = select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.email.in_(to_stop))
        session.execute(
            update(SUBSCRIPTIONS)
            .where(SUBSCRIPTIONS.c.subscriber_id.in_(people), SUBSCRIPTIONS.c.active.is_(True))
            .values(active=False, updated_at=now)
        )
    # In this order; `sources_of` says from which states each one moves.
    for state in (State.SENT, *FEEDBACK_STATES):
        _mark_deliveries(session, [m for m in marks if m.state == state], state, now)
    return newly


def _count_soft_bounces(session: Session, counts: Counter[str]) -> list[tuple[str, str]]:
    """Add the batch's soft bounces; return (email, reason) for those now at the limit."""
    session.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.email == bindparam("p_email"))
        .values(soft_bounces=SUBSCRIBERS.c.soft_bounces + bindparam("p_count")),
        [{"p_email": email, "p_count": n} for email, n in sorted(counts.items())],
    )
    over = session.scalars(
        select(SUBSCRIBERS.c.email).where(
            SUBSCRIBERS.c.email.in_(sorted(counts)),
            SUBSCRIBERS.c.soft_bounces >= SOFT_BOUNCE_LIMIT,
        )
    )
    return [(email, f"{SOFT_BOUNCE_LIMIT} soft bounces in a row") for email in over]


def _mark_deliveries(
    session: Session, marks: list[MarkDelivery], state: State, now: datetime
) -> None:
    if not marks:
        return
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if state == State.DELIVERED:
        values["delivered_at"] = bindparam("p_at")
    if state == State.SENT:  # a Send event for a send its worker never recorded
        values |= {
            "message_id": bindparam("p_message_id"),
            "sent_at": bindparam("p_at"),
            "last_error": None,
        }
    session.execute(
        update(DELIVERIES)
        .where(
            or_(
                DELIVERIES.c.message_id == bindparam("p_message_id"),
                DELIVERIES.c.id == bindparam("p_delivery_id"),
            ),
            # not IN (…): expanding parameters cannot be used with executemany
            or_(*(DELIVERIES.c.state == source for source in sources_of(state))),
        )
        .values(**values),
        [
            {"p_message_id": m.message_id, "p_delivery_id": m.delivery_id, "p_at": m.at or now}
            for m in marks
        ],
    )
