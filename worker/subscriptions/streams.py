"""Where the news already waiting goes when a subscription changes frequency or stops.

A pending notification waits in one digest stream (subscriber, frequency):
the fastest of the subscriptions that matched it, as matching decided. The
sender drops a stream whose subscriber has no running subscription of that
frequency left, so a subscription that moves to another frequency must take
its waiting notifications along, and one that stops must hand over what
another running subscription also matched, or they are lost. The admin
import, a confirmed sign-up, the preferences page and the unsubscribe links
all come here, so they cannot drift apart. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from worker.core.models import Notification, Subscription
from worker.matching.fanout import fastest

SUBSCRIPTIONS = cast(Table, Subscription.__table__)
NOTIFICATIONS = cast(Table, Notification.__table__)
CHUNK = 1000


@dataclass(frozen=True)
class FrequencyChange:
    subscription_id: int
    subscriber_id: int
    frequency: str


def change_frequencies(session: Session, changes: Sequence[FrequencyChange], now: datetime) -> None:
    """Give each subscription its new frequency and re-home what waits for it.

    A waiting notification of a changed subscription goes to the fastest
    stream among its running subscriptions, the rule matching used when it
    was made (see `rehome_waiting`; a stopped subscription that a sign-up is
    about to restart takes its news along too).
    """
    if not changes:
        return
    session.execute(
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.id == bindparam("b_id"))
        .values(frequency=bindparam("b_frequency"), updated_at=now),
        [{"b_id": c.subscription_id, "b_frequency": c.frequency} for c in changes],
    )
    rehome_waiting(
        session,
        {change.subscriber_id for change in changes},
        {change.subscription_id for change in changes},
    )


def rehome_waiting(session: Session, subscriber_ids: Set[int], touched: Set[int]) -> None:
    """Move each waiting notification of a `touched` subscription to the stream it now belongs to.

    The fastest stream among its running subscriptions; when none runs, the
    fastest among all of them (for a stop that is where it already is, and
    the sender drops it; for a frequency change it is the new one).
    """
    ordered = sorted(subscriber_ids)
    for start in range(0, len(ordered), CHUNK):
        _rehome(session, ordered[start : start + CHUNK], touched)


def _rehome(session: Session, subscriber_ids: list[int], touched: Set[int]) -> None:
    subscriptions = {
        pk: (frequency, active)
        for pk, frequency, active in session.execute(
            select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.frequency, SUBSCRIPTIONS.c.active).where(
                SUBSCRIPTIONS.c.subscriber_id.in_(subscriber_ids)
            )
        )
    }
    waiting = session.execute(
        select(NOTIFICATIONS.c.id, NOTIFICATIONS.c.frequency, NOTIFICATIONS.c.subscription_ids)
        .where(
            NOTIFICATIONS.c.subscriber_id.in_(subscriber_ids),
            NOTIFICATIONS.c.delivery_id.is_(None),
        )
        .order_by(NOTIFICATIONS.c.id)
    )
    moves = []
    for notification_id, frequency, subscription_ids in waiting:
        if touched.isdisjoint(subscription_ids):
            continue
        own = [subscriptions[pk] for pk in subscription_ids if pk in subscriptions]
        streams = [freq for freq, active in own if active] or [freq for freq, _ in own]
        if streams and fastest(streams) != frequency:
            moves.append({"b_id": notification_id, "b_frequency": fastest(streams)})
    if moves:
        session.execute(
            update(NOTIFICATIONS)
            .where(NOTIFICATIONS.c.id == bindparam("b_id"), NOTIFICATIONS.c.delivery_id.is_(None))
            .values(frequency=bindparam("b_frequency")),
            moves,
        )
