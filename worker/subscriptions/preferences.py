"""What a subscriber may change on the preferences page: filters, frequency, stop, restart,
and when their digests arrive.

Only the subscription row changes; the criteria it points at are shared and
insert-only, so the matching index is untouched (new filters point the row
at the criteria of the new question, inserted when nobody asked it yet).
Every change names the subscriber as well as the subscription, so a form
cannot reach someone else's row. The caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.models import Subscriber, Subscription
from worker.matching.criteria import criteria_for, ensure_criteria
from worker.subscriptions.imports import subscription_identity
from worker.subscriptions.rows import SubscriptionRow
from worker.subscriptions.streams import FrequencyChange, change_frequencies
from worker.subscriptions.unsubscribe import SUBSCRIPTIONS, NothingToStop, StopScope, stop


class SameAlert(ValueError):
    """Another alert of the subscriber already asks exactly this."""


def _owned(session: Session, subscriber_id: int, subscription_id: int) -> Subscription:
    found = session.get(Subscription, subscription_id)
    if found is None or found.subscriber_id != subscriber_id:
        raise NothingToStop("no such subscription")
    return found


def change_frequency(
    session: Session, subscriber_id: int, subscription_id: int, frequency: str, now: datetime
) -> bool:
    """Move a subscription to another digest stream; False when it already was there.

    What was waiting for it moves along (worker.subscriptions.streams).
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}")
    subscription = _owned(session, subscriber_id, subscription_id)
    if subscription.frequency == frequency:
        return False
    change_frequencies(session, [FrequencyChange(subscription_id, subscriber_id, frequency)], now)
    return True


def stop_subscription(
    session: Session, subscriber_id: int, subscription_id: int, now: datetime
) -> bool:
    """Stop one subscription; False when it was already stopped."""
    scope = StopScope("subscription", subscriber_id, subscription_id=subscription_id)
    return stop(session, scope, now) > 0


def stop_everything(session: Session, subscriber_id: int, now: datetime) -> int:
    return stop(session, StopScope("all", subscriber_id), now)


def restart_subscription(
    session: Session, subscriber_id: int, subscription_id: int, now: datetime
) -> bool:
    """Run a stopped subscription again; False when it already ran.

    A subscription still waiting for its double opt-in is not started here:
    only the confirmation link does that.
    """
    subscription = _owned(session, subscriber_id, subscription_id)
    if subscription.active or not subscription.confirmed:
        return False
    table = SUBSCRIPTIONS
    session.execute(
        update(table).where(table.c.id == subscription_id).values(active=True, updated_at=now)
    )
    return True


def change_alert(
    session: Session, subscriber_id: int, subscription_id: int, row: SubscriptionRow, now: datetime
) -> bool:
    """Give a subscription the filters and frequency of `row`; False when it already had them.

    `row` comes from parse_row with the subscription's own email, kind and
    target, so the filters passed the import's checks. The filters are part
    of what a subscription is (its identity, its criteria), so a new filter
    makes it another question: SameAlert when another of the subscriber's
    alerts already asks it. Only the frequency and timezone are settings.
    """
    subscription = _owned(session, subscriber_id, subscription_id)
    target = subscription.condition if subscription.kind == "condition" else subscription.nct_id
    if (row.kind, row.condition or row.nct_id) != (subscription.kind, target):
        raise ValueError("an alert's condition or study cannot change; sign up for another")
    changed = False
    identity = subscription_identity(row)
    if identity != subscription.identity:
        clash = session.scalar(
            select(Subscription.id).where(
                Subscription.subscriber_id == subscriber_id,
                Subscription.identity == identity,
                Subscription.id != subscription_id,
            )
        )
        if clash is not None:
            raise SameAlert("another of your alerts already asks exactly this")
        criteria_id = None
        if row.kind == "condition":
            spec = criteria_for(row)
            criteria_id = ensure_criteria(session, [spec], now)[spec.signature]
        try:
            # Another alert may have just been given this question in a
            # transaction the check above could not see (two tabs saving).
            with session.begin_nested():
                session.execute(
                    update(SUBSCRIPTIONS)
                    .where(SUBSCRIPTIONS.c.id == subscription_id)
                    .values(
                        identity=identity,
                        criteria_id=criteria_id,
                        updated_at=now,
                        **row.filter_columns(),
                    )
                )
        except IntegrityError:
            raise SameAlert("another of your alerts already asks exactly this") from None
        changed = True
    if row.frequency != subscription.frequency:
        change = FrequencyChange(subscription_id, subscriber_id, row.frequency)
        change_frequencies(session, [change], now)
        changed = True
    return changed


def change_schedule(session: Session, subscriber_id: int, timezone: str, send_hour: int) -> bool:
    """Set when digests arrive (`timezone` as parse_row spells it); False when already so.

    Digest windows are worked out from these two at send time
    (worker.digests.schedule), so nothing else moves.
    """
    if not 0 <= send_hour <= 23:
        raise ValueError(f"send hour {send_hour} must be from 0 to 23")
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NothingToStop("no such subscriber")
    if (subscriber.timezone, subscriber.send_hour) == (timezone, send_hour):
        return False
    subscriber.timezone, subscriber.send_hour = timezone, send_hour
    session.flush()
    return True
