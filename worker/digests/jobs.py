"""Digest jobs: find due digest windows, claim them, and bind notifications to them.

A delivery row per (subscriber, frequency, window) is the claim: the unique
constraint lets two schedulers race harmlessly.  Building binds every pending
notification of that stream to the delivery in the same transaction that
makes it `queued`, so a notification is delivered once.

A stream whose digest is still `building` gets no new window: that build will
take every pending notification anyway, so a second window could only end
`empty` (instant windows would otherwise be claimed 1 µs apart on every tick
while the build waits in the queue).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, select, update
from sqlalchemy.orm import Session

from worker.core.delivery_states import State
from worker.core.models import Delivery, Notification, Study, StudyChange, Subscriber, Subscription
from worker.core.sql import insert_ignoring_conflicts, is_postgresql, one_of
from worker.digests.digest import PendingNotification, SubscriptionRef
from worker.digests.schedule import due_window


@dataclass(frozen=True)
class DueStream:
    subscriber_id: int
    frequency: str
    window: datetime


def due_streams(
    session: Session, now: datetime, instant_delay: timedelta, flush_instant: bool = False
) -> list[DueStream]:
    """Every (subscriber, frequency) with pending notifications whose window is due now."""
    pending = session.execute(
        select(
            Notification.subscriber_id,
            Notification.frequency,
            func.min(Notification.created_at).label("oldest"),
            Subscriber.timezone,
            Subscriber.send_hour,
        )
        .join(Subscriber, Subscriber.id == Notification.subscriber_id)
        .where(Notification.delivery_id.is_(None))
        .group_by(
            Notification.subscriber_id,
            Notification.frequency,
            Subscriber.timezone,
            Subscriber.send_hour,
        )
    ).all()
    if not pending:
        return []
    last, building = _last_windows(session, {row.subscriber_id for row in pending})
    due = []
    for row in pending:
        stream = (row.subscriber_id, row.frequency)
        if stream in building:
            continue
        window = due_window(
            row.frequency,
            now,
            row.timezone,
            row.send_hour,
            last.get(stream),
            row.oldest,
            instant_delay,
            flush=flush_instant,
        )
        if window is not None:
            due.append(DueStream(row.subscriber_id, row.frequency, window))
    return due


Stream = tuple[int, str]  # (subscriber id, frequency)


def _last_windows(
    session: Session, subscriber_ids: set[int]
) -> tuple[dict[Stream, datetime], set[Stream]]:
    """Each stream's latest window, and the streams with a digest still building."""
    last: dict[Stream, datetime] = {}
    building: set[Stream] = set()
    is_building = case((Delivery.state == State.BUILDING, 1), else_=0)
    ids = sorted(subscriber_ids)
    for start in range(0, len(ids), 5000):
        for subscriber_id, frequency, window, builds in session.execute(
            select(
                Delivery.subscriber_id,
                Delivery.frequency,
                func.max(Delivery.window),
                func.max(is_building),
            )
            .where(Delivery.subscriber_id.in_(ids[start : start + 5000]))
            .group_by(Delivery.subscriber_id, Delivery.frequency)
        ):
            last[(subscriber_id, frequency)] = window
            if builds:
                building.add((subscriber_id, frequency))
    return last, building


def claim_windows(session: Session, streams: Sequence[DueStream], now: datetime) -> list[int]:
    """Insert one delivery per due window; a window already claimed is skipped."""
    rows = [
        {
            "subscriber_id": s.subscriber_id,
            "frequency": s.frequency,
            "window": s.window,
            "state": State.BUILDING,
            "item_count": 0,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for s in streams
    ]
    inserted = insert_ignoring_conflicts(
        session, Delivery.__table__, rows, returning=Delivery.__table__.c.id
    )
    return sorted(row.id for row in inserted)


def bind_notifications(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[int]:
    """Give each building delivery every pending notification of its stream.

    Returns the ids that became `queued`; a delivery with nothing to send
    becomes `empty` (its window is spent, no email goes out).  A few
    statements per batch, however many deliveries it holds.
    """
    query = select(Delivery.id, Delivery.subscriber_id, Delivery.frequency).where(
        one_of(session, Delivery.id, delivery_ids), Delivery.state == State.BUILDING
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    claimed = session.execute(query).all()
    if not claimed:
        return []
    # Two windows of one stream (only schedulers racing make them): the first takes it all.
    takers: dict[Stream, int] = {}
    for delivery in sorted(claimed, key=lambda d: d.id):
        takers.setdefault((delivery.subscriber_id, delivery.frequency), delivery.id)
    deliveries, notifications = cast(Table, Delivery.__table__), cast(Table, Notification.__table__)
    bound = session.execute(
        update(notifications)
        .where(
            one_of(session, deliveries.c.id, sorted(takers.values())),
            notifications.c.subscriber_id == deliveries.c.subscriber_id,
            notifications.c.frequency == deliveries.c.frequency,
            notifications.c.delivery_id.is_(None),
        )
        .values(delivery_id=deliveries.c.id)
        .returning(notifications.c.delivery_id)
    )
    queued = sorted(set(bound.scalars()))
    empty = sorted({d.id for d in claimed} - set(queued))
    items = (
        select(func.count())
        .where(notifications.c.delivery_id == deliveries.c.id)
        .correlate(deliveries)
        .scalar_subquery()
    )
    if queued:
        session.execute(
            update(deliveries)
            .where(one_of(session, deliveries.c.id, queued))
            .values(state=State.QUEUED, item_count=items, updated_at=now)
        )
    if empty:
        session.execute(
            update(deliveries)
            .where(one_of(session, deliveries.c.id, empty))
            .values(state=State.EMPTY, item_count=0, updated_at=now)
        )
    return queued


def pending_notifications(
    session: Session, condition: Any
) -> dict[tuple[int, str], list[PendingNotification]]:
    """Notifications matching `condition`, as digest input, keyed by (subscriber, frequency)."""
    rows = session.execute(
        select(
            Notification.id,
            Notification.subscriber_id,
            Notification.frequency,
            Notification.nct_id,
            Notification.subscription_ids,
            Notification.created_at,
            Notification.near_site,
            StudyChange.kind,
            StudyChange.field,
            StudyChange.before,
            StudyChange.after,
            Study.title,
            Study.status,
        )
        .join(StudyChange, StudyChange.id == Notification.change_id)
        .join(Study, Study.nct_id == Notification.nct_id)
        .where(condition)
        .order_by(Notification.id)
    ).all()
    refs = _subscription_refs(session, {i for row in rows for i in row.subscription_ids})
    facts = study_facts(session, {row.nct_id for row in rows})
    grouped: dict[tuple[int, str], list[PendingNotification]] = defaultdict(list)
    for row in rows:
        grouped[(row.subscriber_id, row.frequency)].append(
            PendingNotification(
                id=row.id,
                nct_id=row.nct_id,
                title=row.title,
                status=row.status,
                kind=row.kind,
                field=row.field,
                before=row.before,
                after=row.after,
                subscriptions=tuple(refs[i] for i in row.subscription_ids if i in refs),
                created_at=row.created_at,
                facts=facts.get(row.nct_id),
                near_site=row.near_site,
            )
        )
    return grouped


FACT_KEYS = ("phases", "study_type", "eligibility", "status_verified")


def study_facts(session: Session, nct_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The summary keys a digest shows of each study (worker/digests/facts.py).

    Read out of the stored summary by the database, so a study's long site
    list is never loaded for them.  A key an older summary lacks is left out.
    """
    ids = sorted(nct_ids)
    columns = [Study.summary[key].label(key) for key in FACT_KEYS]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 5000):
        for row in session.execute(
            select(Study.nct_id, *columns).where(
                one_of(session, Study.nct_id, ids[start : start + 5000])
            )
        ):
            facts = row._mapping
            found[row.nct_id] = {key: facts[key] for key in FACT_KEYS if facts[key] is not None}
    return found


def _subscription_refs(session: Session, ids: Iterable[int]) -> dict[int, SubscriptionRef]:
    ids = sorted(ids)
    refs: dict[int, SubscriptionRef] = {}
    for start in range(0, len(ids), 5000):
        for row in session.execute(
            select(
                Subscription.id, Subscription.kind, Subscription.condition, Subscription.nct_id
            ).where(one_of(session, Subscription.id, ids[start : start + 5000]))
        ):
            label = row.condition if row.kind == "condition" else row.nct_id
            refs[row.id] = SubscriptionRef(row.id, row.kind, label or "")
    return refs


def pending_for_subscriber(subscriber_id: int) -> Any:
    """Condition selecting a subscriber's undelivered notifications (for previews)."""
    return and_(Notification.subscriber_id == subscriber_id, Notification.delivery_id.is_(None))


def bound_to(delivery_ids: Sequence[int]) -> Any:
    return Notification.delivery_id.in_(delivery_ids)
