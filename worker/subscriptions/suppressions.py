"""Suppressed addresses: never sent to again (hard bounce, complaint, soft bounces, admin).

Addresses are stored lower-cased, as subscribers are, so the send-time check
is a plain equality.  The caller owns the transaction: nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.orm import Session

from worker.core.models import Subscriber, Suppression
from worker.core.sql import insert_ignoring_conflicts, is_postgresql

SUPPRESSIONS = cast(Table, Suppression.__table__)
SUBSCRIBERS = cast(Table, Subscriber.__table__)
ADMIN_REASON = "added by an admin"


@dataclass(frozen=True)
class SuppressedAddress:
    email: str
    reason: str
    created_at: datetime

    def line(self) -> str:
        """Tab-separated: email, since (UTC), reason."""
        return f"{self.email}\t{self.created_at:%Y-%m-%dT%H:%M:%SZ}\t{self.reason}"


def suppress(session: Session, entries: Iterable[tuple[str, str]], now: datetime) -> list[str]:
    """Suppress (email, reason) pairs in one statement; returns the addresses that are new.

    Idempotent: an address already suppressed keeps its first reason and date.
    """
    rows: dict[str, dict[str, Any]] = {}
    for email, reason in entries:
        address = email.strip().lower()
        rows.setdefault(address, {"email": address, "reason": reason[:200], "created_at": now})
    inserted = insert_ignoring_conflicts(
        session, SUPPRESSIONS, list(rows.values()), returning=SUPPRESSIONS.c.email
    )
    return sorted(row.email for row in inserted)


def add_suppression(session: Session, email: str, reason: str | None, now: datetime) -> bool:
    """Suppress one address (already normalized); False when it was suppressed before."""
    return bool(suppress(session, [(email, reason or ADMIN_REASON)], now))


def remove_suppression(session: Session, email: str) -> bool:
    """Lift a suppression; False when the address was not suppressed.

    The soft-bounce count starts again, so one more soft bounce does not
    suppress the address straight back.  Subscriptions stopped by a complaint
    stay stopped: only their owner restarts them.
    """
    address = email.strip().lower()
    removed = session.execute(
        delete(SUPPRESSIONS).where(SUPPRESSIONS.c.email == address).returning(SUPPRESSIONS.c.email)
    ).first()
    if removed is None:
        return False
    session.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.email == address, SUBSCRIBERS.c.soft_bounces != 0)
        .values(soft_bounces=0)
    )
    return True


def list_suppressions(session: Session) -> list[SuppressedAddress]:
    """Every suppressed address, in byte order of the address on both databases."""
    email: ColumnElement[str] = SUPPRESSIONS.c.email
    if is_postgresql(session):
        email = email.collate("C")
    rows = session.execute(
        select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason, SUPPRESSIONS.c.created_at).order_by(
            email
        )
    )
    return [SuppressedAddress(row.email, row.reason, row.created_at) for row in rows]
