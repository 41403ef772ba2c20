"""Unsubscribe by token: what a link stops, and stopping it (idempotently).

Three links, three scopes, each signed for its own purpose so one can never
pass for another: the List-Unsubscribe link stops one digest stream (every
subscription of that frequency), a section link stops one subscription, and
the footer link stops everything. Stopping sets `active` to false and keeps
the row, so the preferences page can restart it; whatever is still pending
for a stopped stream is dropped at send time, which checks again, except
what another running subscription also matched: that moves to its stream
(`worker.subscriptions.streams`).

A link acts only while its subscriber's row still holds the link key the
token carries (`worker.core.tokens.minted_for`): the links of a removed
subscriber never reach whoever comes next.

The List-Unsubscribe `mailto:` address carries the same stream token in its
subject (`unsubscribe TOKEN`); `unsubscribe_by_mail` acts on such a mail's
subject for whoever receives that mailbox (an SES receipt rule, a mail hook).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.models import Subscriber, Subscription
from worker.core.runtime import Runtime, get_runtime
from worker.core.tokens import LINK_KEY, BadToken, minted_for, read_token
from worker.subscriptions.streams import rehome_waiting

# URL shape (worker.core.tokens) -> token purpose
LINK_PURPOSES = {
    "stream": "unsubscribe-stream",
    "subscription": "unsubscribe-subscription",
    "all": "unsubscribe-all",
}
SUBSCRIPTIONS = cast(Table, Subscription.__table__)
_MAIL_SUBJECT = re.compile(r"^\s*(?:re:\s*)?unsubscribe\s+([A-Za-z0-9_.\-]+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class StopScope:
    """What one unsubscribe link covers: a stream, one subscription, or everything.

    `link_key` is the key the link's token carried (None for a link from
    before link keys); `check_link` holds it against the subscriber's row.
    """

    link: str  # a key of LINK_PURPOSES
    subscriber_id: int
    frequency: str | None = None
    subscription_id: int | None = None
    link_key: str | None = None


class NothingToStop(LookupError):
    """The token is genuine but its subscriber or subscription is gone (or not theirs)."""


def read_stop_token(keys: Sequence[str], link: str, token: str) -> StopScope:
    """The scope a token grants; BadToken when it is forged, altered, or for another link."""
    payload = read_token(keys, LINK_PURPOSES[link], token)
    key = payload.get(LINK_KEY)
    if link == "stream":
        if payload["f"] not in FREQUENCIES:
            raise BadToken("unknown digest stream")
        return StopScope(link, payload["s"], frequency=payload["f"], link_key=key)
    if link == "subscription":
        return StopScope(link, payload["s"], subscription_id=payload["sub"], link_key=key)
    return StopScope(link, payload["s"], link_key=key)


def scope_from_mail_subject(keys: Sequence[str], subject: str) -> StopScope:
    """The stream a `mailto:` unsubscribe stops, from the mail's subject; BadToken otherwise."""
    found = _MAIL_SUBJECT.match(subject)
    if found is None:
        raise BadToken("not an unsubscribe subject")
    return read_stop_token(keys, "stream", found.group(1))


def check_link(session: Session, scope: StopScope) -> str:
    """The subscriber's link key; NothingToStop unless the link was minted for this subscriber.

    Every scope read from a token passes here before anything is shown or
    stopped: the row under the link's id must still hold the link's key.
    """
    holder = session.execute(
        select(Subscriber.link_key, Subscriber.legacy_links).where(
            Subscriber.id == scope.subscriber_id
        )
    ).first()
    if holder is None or not minted_for(scope.link_key, holder.link_key, holder.legacy_links):
        raise NothingToStop("no such subscriber")
    check_scope(session, scope)
    return str(holder.link_key)


def check_scope(session: Session, scope: StopScope) -> None:
    """Raise NothingToStop unless the scope's subscriber (and subscription) exist together.

    A subscription link names both the subscriber and the subscription: the
    two must belong together, so a token can never reach someone else's row.
    """
    if scope.subscription_id is not None:
        owner = session.get(Subscription, scope.subscription_id)
        if owner is None or owner.subscriber_id != scope.subscriber_id:
            raise NothingToStop("no such subscription")
    elif session.get(Subscriber, scope.subscriber_id) is None:
        raise NothingToStop("no such subscriber")


def stop(session: Session, scope: StopScope, now: datetime) -> int:
    """Stop what the scope covers; returns how many were running (0 the second time)."""
    check_scope(session, scope)
    table = SUBSCRIPTIONS
    statement = (
        update(table)
        .where(table.c.subscriber_id == scope.subscriber_id, table.c.active.is_(True))
        .values(active=False, updated_at=now)
    )
    if scope.frequency is not None:
        statement = statement.where(table.c.frequency == scope.frequency)
    if scope.subscription_id is not None:
        statement = statement.where(table.c.id == scope.subscription_id)
    stopped = set(session.scalars(statement.returning(table.c.id)))
    rehome_waiting(session, {scope.subscriber_id}, stopped)
    return len(stopped)


def unsubscribe_by_mail(subject: str, runtime: Runtime | None = None) -> int:
    """For whoever reads the List-Unsubscribe mailbox: stop the stream a mail's subject names.

    Raises BadToken for a subject without a genuine token, NothingToStop when
    its subscriber is gone; returns how many subscriptions it stopped.
    """
    runtime = runtime or get_runtime()
    scope = scope_from_mail_subject(runtime.settings.secret_keys, subject)
    with runtime.sessions() as session, session.begin():
        check_link(session, scope)
        return stop(session, scope, runtime.now())
