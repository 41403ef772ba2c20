"""What the alert rules watch that no worker sees alone: read from the database and Redis.

Every scheduler sets these gauges on every tick, not only the one whose turn
a job is, so the /metrics of each scheduler is current.  The queries touch
only deliveries not yet done (an index on state) and the small dead-letter
table.  The rules are in ops/prometheus/alerts.yml; the runbook in docs/runbook.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.core.delivery_states import State
from worker.core.metrics import set_gauge
from worker.core.models import DeadLetter, Delivery
from worker.core.runtime import Runtime
from worker.sending.control import ControlStore, Hold

# A delivery in one of these is not done: an email is still owed or on its way.
UNDONE = (State.BUILDING, State.QUEUED, State.SENDING, State.PAUSED)
HOLD_REASONS = ("pause", "quota")


@dataclass(frozen=True)
class StateAge:
    state: str
    count: int
    oldest_seconds: float  # since the oldest one entered the state (its `updated_at`)
    oldest_window: datetime | None  # its due time


def undone_deliveries(session: Session, now: datetime) -> list[StateAge]:
    rows = session.execute(
        select(
            Delivery.state, func.count(), func.min(Delivery.updated_at), func.min(Delivery.window)
        )
        .where(Delivery.state.in_(UNDONE))
        .group_by(Delivery.state)
    ).all()
    found = {row[0]: row for row in rows}
    ages = []
    for state in UNDONE:
        _, number, since, window = found.get(state, (state, 0, None, None))
        age = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
        ages.append(StateAge(str(state), number, age, window))
    return ages


def oldest_unsent_window_seconds(ages: Iterable[StateAge], now: datetime) -> float:
    windows = [age.oldest_window for age in ages if age.oldest_window is not None]
    return max(0.0, (now - min(windows)).total_seconds()) if windows else 0.0


def dead_letters(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
        )
        or 0
    )


def hold_seconds(hold: Hold | None, now: float) -> dict[str, float]:
    """Seconds held, by reason; 0 for the reason not in force."""
    return {
        reason: max(0.0, now - hold.since) if hold is not None and hold.reason == reason else 0.0
        for reason in HOLD_REASONS
    }


def control_of(runtime: Runtime) -> ControlStore | None:
    """The shared stop switch the workers set (Redis); None in the embedded mode."""
    if not runtime.settings.redis_url:
        return None
    import redis

    from worker.sending.control import RedisControl

    return RedisControl(redis.Redis.from_url(runtime.settings.redis_url))


def watch(runtime: Runtime, control: ControlStore | None) -> None:
    """Set every gauge of this module from what the database and Redis hold now."""
    now = runtime.now()
    with runtime.sessions() as session:
        ages = undone_deliveries(session, now)
        letters = dead_letters(session)
    for age in ages:
        set_gauge("trialalerts_deliveries", age.count, state=age.state)
        set_gauge("trialalerts_delivery_oldest_age_seconds", age.oldest_seconds, state=age.state)
    set_gauge("trialalerts_digest_oldest_unsent_window_seconds",
              oldest_unsent_window_seconds(ages, now))  # fmt: skip
    set_gauge("trialalerts_dead_letters", letters)
    set_gauge("trialalerts_sending_lease_seconds", runtime.settings.sending_lease_seconds)
    if control is not None:
        for reason, seconds in hold_seconds(control.hold(), now.timestamp()).items():
            set_gauge("trialalerts_sending_hold_seconds", seconds, reason=reason)
