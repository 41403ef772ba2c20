"""What a subscriber may change on the preferences page: frequency, stop, restart.

Only the subscription row changes; the criteria it points at are shared and
insert-only, so the matching index is untouched. Every change names the
subscriber as well as the subscription, so a form cannot reach someone
else's row. The caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.models import Subscription
from worker.subscriptions.streams import FrequencyChange, change_frequencies
from worker.subscriptions.unsubscribe import SUBSCRIPTIONS, NothingToStop, StopScope, stop


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
