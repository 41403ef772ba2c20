"""Finding subscribers for the admin console: by address or by condition, a page at a time.

Both searches match a prefix, case-insensitively, because a prefix is what a
B-tree answers: on PostgreSQL the two text_pattern_ops indexes (addresses,
stored lower-cased, and lower(condition)) serve `LIKE 'text%'` whatever the
database collation, so a search stays fast on millions of rows.  A substring
search could not use them.  A condition query is lowered by the database's
own lower(), the one that lowered the conditions: Python's folds some
letters otherwise (İ), and SQLite's folds ASCII only unless worker.core.db
replaced it.

Pages follow keyset pagination (never OFFSET): a page ends with a cursor, the
last address or subscription id shown, and the next page starts after it.
Addresses come in byte order, walked along the pattern index itself on
PostgreSQL (its `~>~` operators); subscriptions come oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, func, literal, literal_column, select
from sqlalchemy.orm import Session

from worker.core.models import Subscriber, Subscription, Suppression
from worker.core.sql import is_postgresql

SUBSCRIBERS = cast(Table, Subscriber.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)
SUPPRESSIONS = cast(Table, Suppression.__table__)
PAGE_SIZE = 50
MAX_QUERY_LENGTH = 320
_ESCAPE = "\\"

T = TypeVar("T")


@dataclass(frozen=True)
class SubscriberHit:
    id: int
    email: str
    created_at: datetime
    subscriptions: int
    suppressed: bool


@dataclass(frozen=True)
class SubscriptionHit:
    id: int
    subscriber_id: int
    email: str
    kind: str
    condition: str
    frequency: str
    active: bool
    confirmed: bool


@dataclass(frozen=True)
class ResultPage(Generic[T]):
    """One page of hits, and the cursor of the next page (None on the last one)."""

    hits: list[T]
    after: str | None


def search_addresses(
    session: Session, text: str, after: str | None = None, size: int = PAGE_SIZE
) -> ResultPage[SubscriberHit]:
    """Subscribers whose address starts with `text` (any case), by address, after `after`."""
    table = SUBSCRIBERS
    email = table.c.email
    statement = select(table.c.id, email, table.c.created_at).where(
        email.like(_prefix_pattern(text.lower()), escape=_ESCAPE)
    )
    after = _clean(after) if after is not None else None
    if is_postgresql(session):
        # The pattern index's own order: C byte order, the same as SQLite's.
        if after is not None:
            statement = statement.where(email.op("~>~")(after))
        statement = statement.order_by(literal_column("subscribers.email USING ~<~"))
    else:
        if after is not None:
            statement = statement.where(email > after)
        statement = statement.order_by(email)
    rows = session.execute(statement.limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    counts = _subscription_counts(session, [row.id for row in rows])
    suppressed = _suppressed(session, [row.email for row in rows])
    hits = [
        SubscriberHit(
            row.id, row.email, row.created_at, counts.get(row.id, 0), row.email in suppressed
        )
        for row in rows
    ]
    return ResultPage(hits, hits[-1].email if more else None)


def search_conditions(
    session: Session, text: str, after: str | None = None, size: int = PAGE_SIZE
) -> ResultPage[SubscriptionHit]:
    """Condition subscriptions whose condition starts with `text` (any case), oldest first."""
    subs, people = SUBSCRIPTIONS, SUBSCRIBERS
    statement: Select[Any] = (
        select(
            subs.c.id,
            subs.c.subscriber_id,
            people.c.email,
            subs.c.kind,
            subs.c.condition,
            subs.c.frequency,
            subs.c.active,
            subs.c.confirmed,
        )
        .join(people, people.c.id == subs.c.subscriber_id)
        .where(_condition_starts(text))
        .order_by(subs.c.id)
        .limit(size + 1)
    )
    after_id = _cursor_id(after)
    if after_id is not None:
        statement = statement.where(subs.c.id > after_id)
    rows = session.execute(statement).all()
    more = len(rows) > size
    hits = [
        SubscriptionHit(
            row.id,
            row.subscriber_id,
            row.email,
            row.kind,
            row.condition or "",
            row.frequency,
            bool(row.active),
            bool(row.confirmed),
        )
        for row in rows[:size]
    ]
    return ResultPage(hits, str(hits[-1].id) if more else None)


def _condition_starts(text: str) -> ColumnElement[bool]:
    # lower(condition), exactly the expression the PostgreSQL index holds.
    lowered = func.lower(SUBSCRIPTIONS.c.condition)
    return lowered.like(func.lower(literal(_prefix_pattern(text))), escape=_ESCAPE)


def _prefix_pattern(text: str) -> str:
    """`LIKE` pattern for "starts with text": its own %, _ and \\ taken literally."""
    literal = _clean(text).strip()[:MAX_QUERY_LENGTH]
    for char in (_ESCAPE, "%", "_"):
        literal = literal.replace(char, _ESCAPE + char)
    return literal + "%"


def _clean(text: str) -> str:
    """Without NUL, which no stored text holds and PostgreSQL refuses in a parameter."""
    return text.replace("\x00", "")


def _cursor_id(after: str | None) -> int | None:
    if after is None or not after.isascii() or not after.isdigit() or len(after) > 18:
        return None
    return int(after)


def _subscription_counts(session: Session, subscriber_ids: list[int]) -> dict[int, int]:
    if not subscriber_ids:
        return {}
    subs = SUBSCRIPTIONS
    rows = session.execute(
        select(subs.c.subscriber_id, func.count())
        .where(subs.c.subscriber_id.in_(subscriber_ids))
        .group_by(subs.c.subscriber_id)
    )
    return {subscriber_id: number for subscriber_id, number in rows}


def _suppressed(session: Session, emails: list[str]) -> set[str]:
    if not emails:
        return set()
    return set(
        session.scalars(select(SUPPRESSIONS.c.email).where(SUPPRESSIONS.c.email.in_(emails)))
    )
