"""Where the poll stands (one database row per API base URL) and who may move it.

The protocol, in one place:
- *claim*: a poller takes the row when nobody holds it, when the holder's
  lease has run out (it was killed), or when it holds it already.  That is
  one conditional UPDATE, so of two pollers exactly one wins (PostgreSQL
  re-checks the WHERE after the other's commit; SQLite's writers are
  serialized by BEGIN IMMEDIATE).
- *move*: every later write is the same conditional UPDATE (holder = me) and
  renews the lease; a poller that no longer holds the row (it stalled past
  its lease and another took over) gets `LeaseLost` and stops.
- the day moves only after a page's events are committed, only forward, and
  never past today (`advance`): a killed poller's successor re-reads at most
  the pages after the last move, and event dedupe drops what they repeat.
- *release* when a poll ends; a killed poller's lease simply runs out.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.core.models import RegistryCursor
from worker.core.sql import insert_ignoring_conflicts


class LeaseLost(RuntimeError):
    """Another poller took the cursor over: this one must stop publishing."""


@dataclass(frozen=True)
class CursorState:
    day: date | None
    data_timestamp: str | None
    followed_at: datetime | None


def advance(day: date, page_days: Iterable[date], today: date) -> date:
    """The day to resume from once a page is stored.

    Pages come oldest first, so every study before the page's latest day is
    stored: resume there (that day is read again).  Never back, never past today.
    """
    return max(day, min(max(page_days, default=day), today))


def holder_name() -> str:
    """Unique per poller process, readable in the row: host, pid and a random tag."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


class Cursor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        source: str,
        lease_seconds: int,
        clock: Callable[[], datetime],
        holder: str | None = None,
    ) -> None:
        self.source = source
        self.holder = holder or holder_name()
        self._sessions = sessions
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock

    def claim(self) -> CursorState | None:
        """Take the row (creating it on first use); None while another poller holds it."""
        now = self._clock()
        row = {"source": self.source, "updated_at": now}
        with self._sessions() as session, session.begin():
            insert_ignoring_conflicts(session, cast(Table, RegistryCursor.__table__), [row])
            taken = self._update(
                session, now, RegistryCursor.holder.is_(None), RegistryCursor.lease_until < now
            )
            if not taken:
                return None
            found = session.get_one(RegistryCursor, self.source)
            return CursorState(found.day, found.data_timestamp, found.followed_at)

    def move(self, **values: Any) -> None:
        """Write day / data_timestamp / followed_at and renew the lease; LeaseLost if not ours."""
        with self._sessions() as session, session.begin():
            if not self._update(session, self._clock(), **values):
                raise LeaseLost(f"the cursor of {self.source} is held by another poller now")

    def release(self) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                update(RegistryCursor)
                .where(RegistryCursor.source == self.source, RegistryCursor.holder == self.holder)
                .values(holder=None, lease_until=None)
            )

    def held_by(self) -> tuple[str | None, datetime | None]:
        with self._sessions() as session:
            found = session.execute(
                select(RegistryCursor.holder, RegistryCursor.lease_until).where(
                    RegistryCursor.source == self.source
                )
            ).first()
        return (found[0], found[1]) if found else (None, None)

    def _update(self, session: Session, now: datetime, *free: Any, **values: Any) -> bool:
        """The one conditional UPDATE: ours, or (when claiming) free or expired."""
        done = session.execute(
            update(RegistryCursor)
            .where(
                RegistryCursor.source == self.source,
                or_(RegistryCursor.holder == self.holder, *free),
            )
            .values(holder=self.holder, lease_until=now + self._lease, updated_at=now, **values)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]
