"""A subscriber's subscriptions as the web pages show them, with their state.

The unsubscribe page says exactly what a button will stop and the
preferences page lists everything, so both read the same few columns here
(one query, the followed study's current title joined in). The words for
each filter value live here too, so the forms that ask for a filter and the
pages that describe it say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from worker.core.models import Study, Subscriber, Subscription, Suppression
from worker.core.tokens import minted_for

FREQUENCY_LABELS = {
    "instant": "Instant alerts",
    "daily": "Daily digest",
    "weekly": "Weekly digest",
    "monthly": "Monthly digest",
}
STREAM_LABELS = {
    "instant": "instant alerts",
    "daily": "daily digests",
    "weekly": "weekly digests",
    "monthly": "monthly digests",
}
# The registry's values in plain words, in the order forms offer them.
SEX_LABELS = {"female": "Female", "male": "Male"}
PHASE_LABELS = {
    "EARLY_PHASE1": "Early phase 1: a first, very small test in people",
    "PHASE1": "Phase 1: is it safe, and at what dose",
    "PHASE2": "Phase 2: does it work, is it safe",
    "PHASE3": "Phase 3: does it work better than the usual treatment",
    "PHASE4": "Phase 4: how does it work in everyday use, after approval",
    "NA": "No phase: not a drug trial run in phases (e.g. a device or a procedure)",
}
STUDY_TYPE_LABELS = {
    "INTERVENTIONAL": "Interventional: participants are given a treatment or test to study",
    "OBSERVATIONAL": "Observational: researchers follow people; no treatment is assigned",
    "EXPANDED_ACCESS": "Expanded access: an experimental treatment offered outside a trial",
}
TITLE_LIMIT = 160


@dataclass(frozen=True)
class SubscriptionView:
    """One subscription in words: what it watches, how often, and whether it runs."""

    id: int
    kind: str
    target: str  # the condition text, or the followed NCT id
    title: str | None  # the followed study's current title, when known
    filters: tuple[str, ...]
    frequency: str
    active: bool
    confirmed: bool

    @property
    def label(self) -> str:
        if self.kind == "study":
            return f"Study {self.target}" + (f": {self.title}" if self.title else "")
        return f"New studies on {self.target}"

    @property
    def frequency_label(self) -> str:
        return FREQUENCY_LABELS.get(self.frequency, self.frequency)

    @property
    def state(self) -> str:
        return subscription_state(self.active, self.confirmed)


def subscription_state(active: bool, confirmed: bool) -> str:
    """A subscription's state in words, as pages and the console show it."""
    if not confirmed:
        return "waiting for confirmation"
    return "on" if active else "stopped"


@dataclass(frozen=True)
class SubscriberView:
    id: int
    email: str
    suppressed: bool
    timezone: str
    send_hour: int


def subscriber_view(
    session: Session, subscriber_id: int, token_key: str | None
) -> SubscriberView | None:
    """The subscriber a link was minted for (`token_key`: its link key), None when removed.

    None too when the row under that id is not the one the link was made for
    (see `worker.core.tokens.minted_for`): a page never shows someone else.
    """
    found = session.execute(
        select(
            Subscriber.id,
            Subscriber.email,
            Suppression.email.is_not(None),
            Subscriber.link_key,
            Subscriber.legacy_links,
            Subscriber.timezone,
            Subscriber.send_hour,
        )
        .outerjoin(Suppression, Suppression.email == Subscriber.email)
        .where(Subscriber.id == subscriber_id)
    ).first()
    if found is None or not minted_for(token_key, found[3], found[4]):
        return None
    return SubscriberView(found[0], found[1], bool(found[2]), found[5], found[6])


def subscription_views(
    session: Session,
    subscriber_id: int,
    *,
    frequency: str | None = None,
    subscription_id: int | None = None,
) -> list[SubscriptionView]:
    """The subscriber's subscriptions, oldest first: all, one frequency's, or one."""
    statement = (
        select(
            Subscription.id,
            Subscription.kind,
            Subscription.condition,
            Subscription.nct_id,
            Subscription.statuses,
            Subscription.countries,
            Subscription.near_lat,
            Subscription.near_lon,
            Subscription.near_km,
            Subscription.near_place,
            Subscription.age,
            Subscription.sex,
            Subscription.healthy_volunteers,
            Subscription.phases,
            Subscription.study_types,
            Subscription.frequency,
            Subscription.active,
            Subscription.confirmed,
            Study.title,
        )
        .outerjoin(Study, Study.nct_id == Subscription.nct_id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(Subscription.id)
    )
    if frequency is not None:
        statement = statement.where(Subscription.frequency == frequency)
    if subscription_id is not None:
        statement = statement.where(Subscription.id == subscription_id)
    return [_view(row) for row in session.execute(statement)]


def _eligibility_words(record: Row[Any]) -> list[str]:
    words = []
    if record.age is not None:
        words.append(f"open to age {record.age}")
    if record.sex:
        words.append(f"open to {SEX_LABELS.get(record.sex, record.sex).lower()} participants")
    if record.healthy_volunteers:
        words.append("taking healthy volunteers")
    if record.phases:
        words.append(" or ".join(_short(PHASE_LABELS, phase) for phase in record.phases))
    if record.study_types:
        kinds = (_short(STUDY_TYPE_LABELS, kind).lower() for kind in record.study_types)
        words.append(" or ".join(kinds) + " studies")
    return words


def _short(labels: dict[str, str], value: str) -> str:
    """A label's name before its explanation: "Phase 2" of "Phase 2: does it work"."""
    return labels.get(value, value).partition(":")[0]


def _view(record: Row[Any]) -> SubscriptionView:
    filters: list[str] = []
    if record.statuses:
        wanted = (status.replace("_", " ").lower() for status in record.statuses)
        filters.append("status " + " or ".join(wanted))
    if record.countries:
        filters.append("in " + ", ".join(record.countries))
    if record.near_km is not None:
        where = record.near_place or f"{record.near_lat:g}, {record.near_lon:g}"
        filters.append(f"a site within {record.near_km:g} km of {where}")
    filters.extend(_eligibility_words(record))
    title = record.title if record.kind == "study" else None
    if title and len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1] + "…"
    return SubscriptionView(
        id=record.id,
        kind=record.kind,
        target=(record.condition if record.kind == "condition" else record.nct_id) or "",
        title=title or None,
        filters=tuple(filters),
        frequency=record.frequency,
        active=bool(record.active),
        confirmed=bool(record.confirmed),
    )
