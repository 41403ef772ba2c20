"""Send queued deliveries: claim, check suppression again, render, hand to the sender.

The claim is a conditional update (queued → sending), so two workers can
never both send one delivery.  Suppression and unsubscribe are checked at
send time, not when the digest was built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.digest_jobs import bound_to, pending_notifications
from worker.digests import build_digest
from worker.mime import digest_message
from worker.models import Delivery, Subscriber, Subscription, Suppression
from worker.outbox import Sender
from worker.schedule import subscriber_zone
from worker.tokens import mail_domain

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    sent: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def message_id(settings: Settings, delivery_id: int, window: datetime) -> str:
    return f"<digest-{delivery_id}-{window:%Y%m%d%H%M%S}@{mail_domain(settings)}>"


def claim_for_sending(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[int]:
    """queued → sending, only for rows still queued (the conditional update is the lock)."""
    table = Delivery.__table__
    claimed = session.execute(
        update(table)
        .where(table.c.id.in_(delivery_ids), table.c.state == "queued")
        .values(state="sending", attempts=table.c.attempts + 1, updated_at=now)
        .returning(table.c.id)
    )
    return sorted(row.id for row in claimed)


def _recipients(session: Session, delivery_ids: Sequence[int]) -> list[Any]:
    """Each claimed delivery with its subscriber, and whether mail may still go to them."""
    suppressed = exists().where(Suppression.email == Subscriber.email)
    still_wanted = exists().where(
        Subscription.subscriber_id == Delivery.subscriber_id,
        Subscription.frequency == Delivery.frequency,
        Subscription.active.is_(True),
    )
    return session.execute(
        select(
            Delivery.id,
            Delivery.frequency,
            Delivery.window,
            Subscriber.id.label("subscriber_id"),
            Subscriber.email,
            Subscriber.timezone,
            suppressed.label("suppressed"),
            still_wanted.label("wanted"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(delivery_ids))
    ).all()


def send_deliveries(
    session_factory: Any,
    settings: Settings,
    sender: Sender,
    delivery_ids: Sequence[int],
    now: datetime,
) -> SendResult:
    """Send a batch: one transaction to claim, the sends, one transaction to record."""
    with session_factory() as session, session.begin():
        claimed = claim_for_sending(session, delivery_ids, now)
    if not claimed:
        return SendResult()
    with session_factory() as session:
        recipients = _recipients(session, claimed)
        notes = pending_notifications(session, bound_to(claimed))
    result = SendResult()
    outcomes: list[dict[str, Any]] = []
    for row in recipients:
        if row.suppressed or not row.wanted:
            result.suppressed.append(row.id)
            outcomes.append(_outcome(row.id, "suppressed", None, now, "suppressed or unsubscribed"))
            continue
        digest = build_digest(
            row.frequency,
            notes.get((row.subscriber_id, row.frequency), []),
            settings.digest_item_cap,
        )
        if digest is None:
            outcomes.append(_outcome(row.id, "empty", None, now, None))
            continue
        subscriber = {"id": row.subscriber_id, "email": row.email, "timezone": row.timezone}
        local_now = now.astimezone(subscriber_zone(row.timezone))
        raw = digest_message(
            settings, subscriber, digest, local_now, message_id(settings, row.id, row.window)
        )
        try:
            provider_id = sender.send(
                to_addr=row.email,
                raw=raw,
                delivery_id=row.id,
                tags={"delivery": str(row.id), "frequency": row.frequency},
            )
        except OSError as error:
            log.error("delivery %d failed: %s", row.id, error)
            result.failed.append((row.id, str(error)))
            outcomes.append(_outcome(row.id, "queued", None, now, str(error)))
            continue
        result.sent.append(row.id)
        outcomes.append(_outcome(row.id, "sent", provider_id, now, None))
    with session_factory() as session, session.begin():
        table = Delivery.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("p_id"), table.c.state == "sending")
            .values(
                state=bindparam("p_state"),
                message_id=bindparam("p_message_id"),
                sent_at=bindparam("p_sent_at"),
                last_error=bindparam("p_error"),
                updated_at=now,
            ),
            outcomes,
        )
    return result


def _outcome(
    delivery_id: int, state: str, provider_id: str | None, now: datetime, error: str | None
) -> dict[str, Any]:
    return {
        "p_id": delivery_id,
        "p_state": state,
        "p_message_id": provider_id,
        "p_sent_at": now if state == "sent" else None,
        "p_error": error,
    }
