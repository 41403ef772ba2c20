"""`digests preview`: the digests a subscriber would get, rendered, without sending anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.config import Settings
from worker.core.models import Delivery, Subscriber
from worker.digests.digest import build_digest
from worker.digests.jobs import pending_for_subscriber, pending_notifications
from worker.digests.render import RenderedEmail, digest_context, render_email
from worker.digests.schedule import due_window, next_slot, subscriber_zone


@dataclass(frozen=True)
class Preview:
    frequency: str
    due_now: bool
    next_send: datetime | None
    email: RenderedEmail


def preview_digests(
    session: Session, settings: Settings, email: str, now: datetime
) -> list[Preview] | None:
    """One rendered digest per frequency with pending notifications; None for an unknown email."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email.lower()))
    if subscriber is None:
        return None
    zone = subscriber_zone(subscriber.timezone)
    grouped = pending_notifications(session, pending_for_subscriber(subscriber.id))
    previews = []
    for (_, frequency), notes in sorted(grouped.items(), key=lambda item: item[0][1]):
        digest = build_digest(frequency, notes, settings.digest_item_cap)
        if digest is None:
            continue
        last = session.scalar(
            select(Delivery.window)
            .where(Delivery.subscriber_id == subscriber.id, Delivery.frequency == frequency)
            .order_by(Delivery.window.desc())
            .limit(1)
        )
        oldest = min(note.created_at for note in notes)
        delay = timedelta(seconds=settings.instant_delay_seconds)
        due = (
            due_window(
                frequency, now, subscriber.timezone, subscriber.send_hour, last, oldest, delay
            )
            is not None
        )
        upcoming = (
            oldest + delay
            if frequency == "instant"
            else next_slot(frequency, now, subscriber.timezone, subscriber.send_hour)
        )
        context = digest_context(
            settings,
            {"id": subscriber.id, "email": subscriber.email, "link_key": subscriber.link_key},
            digest,
            now.astimezone(zone),
        )
        previews.append(
            Preview(frequency, due, None if due else upcoming, render_email("digest", context))
        )
    return previews
