"""Long-poll the SES feedback queue (SQS), apply what it says, delete what was kept.

Each batch is one transaction: every message is stored in feedback_messages
(unique SNS MessageId — a message seen before is acknowledged without acting
again) together with the suppressions, soft-bounce counts, stopped
subscriptions and delivery states it causes.  Only after that commit are the
messages deleted from SQS.  Unknown and malformed messages are stored too,
with their reason and the body as received, and then deleted: they are kept,
in the database.  When the database refuses a batch, its messages are tried
one by one; a message that still cannot be stored stays on the queue, and
SQS redelivers it after its visibility timeout (or moves it to the queue's
own dead-letter queue, when one is configured).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlparse

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from worker.core.delivery_states import FEEDBACK_STATES, State, sources_of
from worker.core.metrics import set_gauge
from worker.core.models import Delivery, FeedbackMessage, Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.core.sql import insert_ignoring_conflicts
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
class PollResult:
    batches: int = 0
    received: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # handled/ignored/unknown/malformed
    duplicates: int = 0
    failed: int = 0  # could not be stored: left on the queue
    deleted: int = 0
    suppressed: list[str] = field(default_factory=list)  # addresses newly suppressed

    def summary(self) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        return (
            f"{self.received} received ({counts or 'none new'}), {self.duplicates} duplicate, "
            f"{self.failed} left on the queue, {self.deleted} deleted, "
            f"{len(self.suppressed)} newly suppressed"
        )


@dataclass
class _Stored:
    fresh: list[Feedback] = field(default_factory=list)
    duplicates: int = 0
    suppressed: list[str] = field(default_factory=list)


def poll_feedback(
    runtime: Runtime,
    max_messages: int = 10,
    wait_seconds: int = 20,
    max_batches: int = 50,
    client: Any = None,
) -> PollResult:
    """Receive and handle batches until the queue is empty, `max_batches`, or a database failure.

    Does nothing without TRIALALERTS_FEEDBACK_QUEUE_URL.  `client` is an SQS
    client; by default one is built from the standard AWS settings.
    """
    result = PollResult()
    queue_url = runtime.settings.feedback_queue_url
    if not queue_url:
        return result
    sqs = client if client is not None else sqs_client(queue_url, wait_seconds)
    oldest = 0.0
    for _ in range(max_batches):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(max_messages, 10)),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        if not messages:
            break
        oldest = max(oldest, oldest_age_seconds(messages, time.time()))
        result.batches += 1
        result.received += len(messages)
        handled = _store_batch(runtime, messages, result)
        _delete(sqs, queue_url, handled, result)
        if len(handled) < len(messages):
            break  # the database is refusing work: let SQS redeliver later
    if result.received:
        log.info("SES feedback: %s", result.summary())
    set_gauge("trialalerts_feedback_oldest_age_seconds", oldest)
    set_gauge("trialalerts_feedback_poll_timestamp_seconds", time.time())
    return result


def oldest_age_seconds(messages: Sequence[dict[str, Any]], now: float) -> float:
    """How long the oldest of `messages` waited in SQS (its SentTimestamp, in ms)."""
    sent = [
        int(m["Attributes"]["SentTimestamp"]) / 1000
        for m in messages
        if str(m.get("Attributes", {}).get("SentTimestamp", "")).isdigit()
    ]
    return max(0.0, now - min(sent)) if sent else 0.0


def sqs_client(queue_url: str, wait_seconds: int = 20) -> Any:
    """An SQS client from the standard AWS settings; the region defaults to the queue's own."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=wait_seconds + 10,  # a long poll holds the response open
    )
    return session.client(
        "sqs", region_name=session.region_name or queue_region(queue_url), config=config
    )


def queue_region(queue_url: str) -> str | None:
    """`https://sqs.eu-west-1.amazonaws.com/…` → `eu-west-1` (None for other hosts)."""
    parts = (urlparse(queue_url).hostname or "").split(".")
    if len(parts) >= 4 and parts[0] == "sqs" and parts[2] == "amazonaws":
        return parts[1]
    return None


def _store_batch(runtime: Runtime, messages: list[dict[str, Any]], result: PollResult) -> list[str]:
    """Store and apply a batch; returns the receipt handles of the messages now kept."""
    items = [(m.get("Body", ""), m["ReceiptHandle"]) for m in messages]
    if _store(runtime, [body for body, _ in items], result):
        return [handle for _, handle in items]
    if len(items) == 1:
        result.failed += 1
        return []
    log.warning("retrying %d SES feedback messages one by one", len(items))
    kept = []
    for body, handle in items:
        if _store(runtime, [body], result):
            kept.append(handle)
        else:
            result.failed += 1
    return kept


def _store(runtime: Runtime, bodies: list[str], result: PollResult) -> bool:
    try:
        with runtime.sessions() as session, session.begin():
            stored = record_feedback(session, bodies, runtime.now())
    except SQLAlchemyError:
        log.exception("could not store %d SES feedback message(s)", len(bodies))
        return False
    for feedback in stored.fresh:
        result.outcomes[feedback.outcome] += 1
        if feedback.outcome in ("unknown", "malformed"):
            log.warning(
                "SES feedback %s kept as %s: %s", feedback.key, feedback.outcome, feedback.reason
            )
    result.duplicates += stored.duplicates
    result.suppressed += stored.suppressed
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
            "payload": body.replace("\x00", "\ufffd"),
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


def _delete(sqs: Any, queue_url: str, handles: list[str], result: PollResult) -> None:
    """Delete kept messages; a failed delete only means a redelivery, which dedupes."""
    if not handles:
        return
    response = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(handles)],
    )
    result.deleted += len(response.get("Successful", []))
    for failure in response.get("Failed", []):
        log.warning("could not delete SES feedback message: %s", failure.get("Message"))
