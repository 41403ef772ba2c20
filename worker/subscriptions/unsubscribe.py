"""Unsubscribe by token: what a link stops, and stopping it (idempotently).

Three links, three scopes, each signed for its own purpose so one can never
pass for another: the List-Unsubscribe link stops one digest stream (every
subscription of that frequency), a section link stops one subscription, and
the footer link stops everything. Stopping sets `active` to false and keeps
the row, so the preferences page can restart it; whatever is still pending
for a stopped stream is dropped at send time, which checks again.

The List-Unsubscribe `mailto:` address carries the same stream token in its
subject (`unsubscribe TOKEN`); `unsubscribe_by_mail` acts on such a mail's
subject for whoever receives that mailbox (an SES receipt rule, a mail hook).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, update
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.models import Subscriber, Subscription
from worker.core.runtime import Runtime, get_runtime
from worker.core.tokens import BadToken, read_token

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
    """What one unsubscribe link covers: a stream, one subscription, or everything."""

    link: str  # a key of LINK_PURPOSES
    subscriber_id: int
    frequency: str | None = None
    subscription_id: int | None = None


class NothingToStop(LookupError):
    """The token is genuine but its subscriber or subscription is gone (or not theirs)."""


def read_stop_token(keys: Sequence[str], link: str, token: str) -> StopScope:
    """The scope a token grants; BadToken when it is forged, altered, or for another link."""
    payload = read_token(keys, LINK_PURPOSES[link], token)
    if link == "stream":
        if payload["f"] not in FREQUENCIES:
            raise BadToken("unknown digest stream")
        return StopScope(link, payload["s"], frequency=payload["f"])
    if link == "subscription":
        return StopScope(link, payload["s"], subscription_id=payload["sub"])
    return StopScope(link, payload["s"])


def scope_from_mail_subject(keys: Sequence[str], subject: str) -> StopScope:
    """The stream a `mailto:` unsubscribe stops, from the mail's subject; BadToken otherwise."""
    found = _MAIL_SUBJECT.match(subject)
    if found is None:
        raise BadToken("not an unsubscribe subject")
    return read_stop_token(keys, "stream", found.group(1))


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
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount or 0


def unsubscribe_by_mail(subject: str, runtime: Runtime | None = None) -> int:
    """For whoever reads the List-Unsubscribe mailbox: stop the stream a mail's subject names.

    Raises BadToken for a subject without a genuine token, NothingToStop when
    its subscriber is gone; returns how many subscriptions it stopped.
    """
    runtime = runtime or get_runtime()
    scope = scope_from_mail_subject(runtime.settings.secret_keys, subject)
    with runtime.sessions() as session, session.begin():
        return stop(session, scope, runtime.now())
