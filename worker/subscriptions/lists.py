"""Admin subscription lists in the database: import, export, list, remove.

Importing lives in `worker.subscriptions.imports` (re-exported here). Exports
are in import form, so an export imported again changes nothing. The caller
owns the transaction: these functions never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, delete, func, select
from sqlalchemy.orm import Session

from worker.core.models import Signup, Subscriber, Subscription
from worker.core.sql import is_postgresql
from worker.subscriptions.imports import ImportReport, import_subscriptions, subscription_identity
from worker.subscriptions.rows import SubscriptionRow, normalize_email

__all__ = [
    "ImportReport",
    "ListedSubscription",
    "UnknownSubscriber",
    "export_subscriptions",
    "import_subscriptions",
    "list_subscriptions",
    "normalize_email",
    "remove_subscriber",
    "subscriber_exists",
    "subscription_identity",
]

SUBSCRIBERS = cast(Table, Subscriber.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)


class UnknownSubscriber(LookupError):
    """No subscriber has this address; the message says so."""


@dataclass(frozen=True)
class ListedSubscription:
    """A stored subscription with its state, for `subscribers list`."""

    id: int
    row: SubscriptionRow
    active: bool
    confirmed: bool

    def line(self) -> str:
        """Tab-separated: email, kind, condition or NCT id, frequency, filters, timezone, state."""
        row = self.row
        filters = []
        if row.statuses:
            filters.append("statuses=" + ";".join(row.statuses))
        if row.countries:
            filters.append("countries=" + ";".join(row.countries))
        if row.near and row.near_place:
            filters.append(f"near={row.near_place};{row.near[2]!r}km")
        elif row.near:
            lat, lon, km = row.near
            filters.append(f"near={lat!r},{lon!r},{km!r}km")
        if row.age is not None:
            filters.append(f"age={row.age}")
        if row.sex:
            filters.append(f"sex={row.sex}")
        if row.healthy_volunteers:
            filters.append("healthy_volunteers=true")
        if row.phases:
            filters.append("phases=" + ";".join(row.phases))
        if row.study_types:
            filters.append("study_types=" + ";".join(row.study_types))
        state = ("active" if self.active else "inactive") + (
            ",confirmed" if self.confirmed else ",unconfirmed"
        )
        target = row.condition if row.kind == "condition" else row.nct_id
        cells = (row.email, row.kind, target, row.frequency, " ".join(filters) or "-")
        return "\t".join((*(str(cell) for cell in cells), row.timezone, state))


def export_subscriptions(session: Session) -> Iterator[SubscriptionRow]:
    """Active subscriptions in import form, by email then id, streamed from the database."""
    statement = _listing(session).where(SUBSCRIPTIONS.c.active.is_(True))
    for listed in _listed(session, statement):
        yield listed.row


def list_subscriptions(session: Session, email: str | None = None) -> Iterator[ListedSubscription]:
    """Every subscription (active or not) of everyone, or of one address, by email then id."""
    statement = _listing(session)
    if email is not None:
        statement = statement.where(SUBSCRIBERS.c.email == email)
    return _listed(session, statement)


def subscriber_exists(session: Session, email: str) -> bool:
    found = session.scalar(select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.email == email))
    return found is not None


def remove_subscriber(session: Session, email: str) -> int:
    """Delete a subscriber with all their subscriptions; return how many subscriptions went.

    Subscriptions, notifications and deliveries go by ON DELETE CASCADE (SQLite
    enforces it: worker.core.db turns foreign keys on). Raises UnknownSubscriber.
    """
    subscriber_id = session.scalar(select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.email == email))
    if subscriber_id is None:
        raise UnknownSubscriber(f"no subscriber {email}")
    count = session.scalar(
        select(func.count()).where(SUBSCRIPTIONS.c.subscriber_id == subscriber_id)
    )
    session.execute(delete(SUBSCRIBERS).where(SUBSCRIBERS.c.id == subscriber_id))
    # Their pending sign-ups go too: removing a person must not leave a
    # confirmation link that subscribes them again.
    session.execute(delete(Signup).where(Signup.email == email, Signup.confirmed_at.is_(None)))
    return count or 0


def _listing(session: Session) -> Select[Any]:
    subs, people = SUBSCRIPTIONS, SUBSCRIBERS
    email: ColumnElement[str] = people.c.email
    if is_postgresql(session):
        email = email.collate("C")  # byte order, as on SQLite: exports equal across databases
    return (
        select(
            subs.c.id,
            people.c.email,
            subs.c.kind,
            subs.c.condition,
            subs.c.nct_id,
            subs.c.frequency,
            subs.c.statuses,
            subs.c.countries,
            subs.c.near_lat,
            subs.c.near_lon,
            subs.c.near_km,
            subs.c.near_place,
            subs.c.age,
            subs.c.sex,
            subs.c.healthy_volunteers,
            subs.c.phases,
            subs.c.study_types,
            people.c.timezone,
            subs.c.active,
            subs.c.confirmed,
        )
        .join(people, people.c.id == subs.c.subscriber_id)
        .order_by(email, subs.c.id)
    )


def _listed(session: Session, statement: Select[Any]) -> Iterator[ListedSubscription]:
    result = session.execute(statement.execution_options(yield_per=1000))
    for record in result:
        near = None
        if record.near_lat is not None:
            near = (record.near_lat, record.near_lon, record.near_km)
        row = SubscriptionRow(
            email=record.email,
            kind=record.kind,
            condition=record.condition,
            nct_id=record.nct_id,
            frequency=record.frequency,
            statuses=tuple(record.statuses or ()),
            countries=tuple(record.countries or ()),
            near=near,
            timezone=record.timezone,
            near_place=record.near_place if near is not None else None,
            age=record.age,
            sex=record.sex,
            healthy_volunteers=record.healthy_volunteers,
            phases=tuple(record.phases or ()),
            study_types=tuple(record.study_types or ()),
        )
        yield ListedSubscription(record.id, row, record.active, record.confirmed)
