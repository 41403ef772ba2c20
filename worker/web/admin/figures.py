"""The overview's numbers: counts per UTC day over the last 30 days, and gauges now.

Grouped by day in SQL on both databases (SQLite keeps UTC datetimes naive;
PostgreSQL's are converted to UTC before the date is taken, whatever the
session's time zone), over indexed time columns.  A bounce or complaint
counts on the day the delivery moved to that state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from worker.core.delivery_states import State
from worker.core.models import DeadLetter, Delivery, Notification, ReceivedEvent, Suppression
from worker.core.sql import is_postgresql

DAYS = 30


@dataclass(frozen=True)
class Series:
    label: str
    counts: tuple[int, ...]  # one a day, oldest first


@dataclass(frozen=True)
class Figures:
    days: tuple[date, ...]
    emails: tuple[Series, ...]  # sent, bounced, complained
    events: Series
    dead_letters: Series
    waiting: int  # notifications no delivery has taken yet
    deliveries_by_state: tuple[tuple[str, int], ...]
    suppressions: int


def last_days(today: date, count: int = DAYS) -> tuple[date, ...]:
    return tuple(today - timedelta(days=back) for back in range(count - 1, -1, -1))


def _utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    if is_postgresql(session):
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def daily_counts(
    session: Session, column: Any, days: tuple[date, ...], *conditions: Any
) -> tuple[int, ...]:
    """How many rows have `column` on each of `days` (and meet `conditions`)."""
    start = datetime.combine(days[0], time(), UTC)
    end = datetime.combine(days[-1] + timedelta(days=1), time(), UTC)
    day = _utc_day(session, column).label("day")
    rows = session.execute(
        select(day, func.count()).where(column >= start, column < end, *conditions).group_by(day)
    )
    found = {_as_date(row[0]): row[1] for row in rows}
    return tuple(found.get(each, 0) for each in days)


def overview_figures(session: Session, now: datetime) -> Figures:
    days = last_days(now.astimezone(UTC).date())
    changed = Delivery.updated_at
    emails = (
        Series("Sent", daily_counts(session, Delivery.sent_at, days)),
        Series("Bounced", daily_counts(session, changed, days, Delivery.state == State.BOUNCED)),
        Series(
            "Complained", daily_counts(session, changed, days, Delivery.state == State.COMPLAINED)
        ),
    )
    by_state = session.execute(
        select(Delivery.state, func.count()).group_by(Delivery.state).order_by(Delivery.state)
    )
    return Figures(
        days=days,
        emails=emails,
        events=Series("Events ingested", daily_counts(session, ReceivedEvent.ingested_at, days)),
        dead_letters=Series("Dead letters", daily_counts(session, DeadLetter.created_at, days)),
        waiting=session.scalar(
            select(func.count()).select_from(Notification).where(Notification.delivery_id.is_(None))
        )
        or 0,
        deliveries_by_state=tuple((row[0], row[1]) for row in by_state),
        suppressions=session.scalar(select(func.count()).select_from(Suppression)) or 0,
    )
