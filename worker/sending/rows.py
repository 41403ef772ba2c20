"""Conditional updates on delivery rows: each moves only rows in a state the table allows.

Who owns a `sending` row is proven by its `updated_at`: the claim writes a
fresh instant, and the worker's next write on that row requires the row to
still carry it (optimistic locking on a column every row has).  A worker whose
row was taken from it (released as stale, claimed by another) finds nothing to
update and does not send.

Right before its pacing slot and SES call the row is marked in flight
(`attempts` + 1, `last_error` = IN_FLIGHT); the outcome is written right after
the call.  A worker killed in between leaves exactly that one row uncertain:
SES may have taken it.  `release_stale_sending` puts rows never marked back in the queue as they
are, resends an uncertain one at most once (a possible duplicate, counted in
its `last_error`), and fails it the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, bindparam, case, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from worker.core.delivery_states import FEEDBACK_STATES, State
from worker.core.models import Delivery
from worker.sending.attempt import Attempt

log = logging.getLogger(__name__)
T = TypeVar("T")
Db = Connection | Session  # anything that executes a Core statement
DELIVERIES = cast(Table, Delivery.__table__)
UNCERTAIN = "uncertain:"  # last_error prefix: SES may have this one already
IN_FLIGHT = "uncertain: in flight"  # the SES call is under way
RESEND = "uncertain: its worker stopped during the SES call; resent once"
IN_FLIGHT_AGAIN = "uncertain: in flight again after a stopped worker"


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    attempt: Attempt
    owned_at: datetime  # the row's updated_at while it is ours
    marked: bool  # attempts was counted for this call


def claim_for_sending(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[int]:
    """queued → sending, only for rows still queued (the conditional update is the lock)."""
    claimed = session.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(delivery_ids), DELIVERIES.c.state == State.QUEUED)
        .values(state=State.SENDING, updated_at=now)
        .returning(DELIVERIES.c.id)
    )
    return sorted(row.id for row in claimed)


@cache
def _mark_statement() -> Any:
    """Built once: building a statement costs more than running it."""
    again = DELIVERIES.c.last_error.in_((RESEND, IN_FLIGHT_AGAIN))
    return (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == bindparam("p_id"),
            DELIVERIES.c.state == State.SENDING,
            DELIVERIES.c.updated_at == bindparam("p_owned_at", type_=DELIVERIES.c.updated_at.type),
        )
        .values(
            attempts=DELIVERIES.c.attempts + 1,
            last_error=case((again, IN_FLIGHT_AGAIN), else_=IN_FLIGHT),
            updated_at=bindparam("p_at", type_=DELIVERIES.c.updated_at.type),
        )
        .returning(DELIVERIES.c.id)
    )


def mark_in_flight(db: Db, delivery_id: int, owned_at: datetime, at: datetime) -> bool:
    """Count the attempt and mark the row in flight; False when the row is no longer ours."""
    marked = db.execute(
        _mark_statement(), {"p_id": delivery_id, "p_owned_at": owned_at, "p_at": at}
    )
    return marked.first() is not None


def park_for_quota(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[int]:
    """queued → paused: the quota is spent, these wait for room."""
    parked = session.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(delivery_ids), DELIVERIES.c.state == State.QUEUED)
        .values(state=State.PAUSED, updated_at=now)
        .returning(DELIVERIES.c.id)
    )
    return sorted(row.id for row in parked)


def resume_paused(session: Session, now: datetime) -> list[int]:
    """paused → queued for every delivery parked by the quota (the reconciler wakes them)."""
    resumed = session.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.state == State.PAUSED)
        .values(state=State.QUEUED, updated_at=now)
        .returning(DELIVERIES.c.id)
    )
    return sorted(row.id for row in resumed)


def release_stale_sending(
    session: Session, now: datetime, older_than: timedelta
) -> tuple[list[int], list[int]]:
    """`sending` rows whose worker stopped; returns (back in the queue, failed).

    `older_than` is the sending lease (settings): a row untouched that long has lost its worker.
    """
    rows = session.execute(
        select(DELIVERIES.c.id, DELIVERIES.c.last_error).where(
            DELIVERIES.c.state == State.SENDING, DELIVERIES.c.updated_at <= now - older_than
        )
    ).all()
    untouched = [r.id for r in rows if r.last_error not in (IN_FLIGHT, IN_FLIGHT_AGAIN)]
    resend = [r.id for r in rows if r.last_error == IN_FLIGHT]
    give_up = [r.id for r in rows if r.last_error == IN_FLIGHT_AGAIN]
    moves: list[tuple[list[int], State, dict[str, Any]]] = [
        (untouched, State.QUEUED, {}),
        (resend, State.QUEUED, {"last_error": RESEND}),
        (give_up, State.FAILED, {"last_error": f"{UNCERTAIN} its worker stopped twice during "
                                 "the SES call; not resent again"}),
    ]  # fmt: skip
    for ids, state, values in moves:
        if ids:
            session.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id.in_(ids), DELIVERIES.c.state == State.SENDING)
                .values(state=state, updated_at=now, **values)
            )
    if rows:
        log.warning(
            "stopped workers left %d deliveries: %d never tried, %d resent once "
            "(possible duplicates), %d failed",
            len(rows),
            len(untouched),
            len(resend),
            len(give_up),
        )
    return untouched + resend, give_up


def _connection_lost(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def on_a_live_connection(write: Callable[[], T]) -> T:
    """Run a short write again when the database dropped the connection under it.

    A sent message whose outcome cannot be written would look uncertain later
    and be resent; a fresh connection from the pool (pre-pinged) usually works.
    The writes are conditional on ownership, so running one twice is harmless.
    """
    retrying = Retrying(
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.05, max=1.0),
        retry=retry_if_exception(_connection_lost),
        reraise=True,
    )
    return retrying(write)


class Writer:
    """Short write transactions on one connection held for a while (no pool
    checkout, no pre-ping per write), each committed at once and run again on
    a fresh connection when the database dropped the old one."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def run(self, write: Callable[[Connection], T]) -> T:
        return on_a_live_connection(lambda: self._once(write))

    def _once(self, write: Callable[[Connection], T]) -> T:
        try:
            answer = write(self.connection)
            self.connection.commit()
            return answer
        except BaseException:
            self.connection.rollback()
            raise


@cache
def _record_statement() -> Any:
    # (no IN list: executemany cannot expand one)
    feedback_state = or_(*(DELIVERIES.c.state == state for state in FEEDBACK_STATES))
    overtaken = feedback_state & DELIVERIES.c.message_id.is_(None)
    instant = DELIVERIES.c.updated_at.type
    ours = (DELIVERIES.c.state == State.SENDING) & (
        DELIVERIES.c.updated_at == bindparam("p_owned_at", type_=instant)
    )
    return (
        update(DELIVERIES)
        .where(DELIVERIES.c.id == bindparam("p_id"), ours | overtaken)
        .values(
            state=case(
                (DELIVERIES.c.state == State.SENDING, bindparam("p_state")),
                else_=DELIVERIES.c.state,
            ),
            message_id=func.coalesce(bindparam("p_message_id"), DELIVERIES.c.message_id),
            sent_at=func.coalesce(bindparam("p_sent_at", type_=instant), DELIVERIES.c.sent_at),
            last_error=bindparam("p_error"),
            attempts=DELIVERIES.c.attempts - bindparam("p_back"),
            updated_at=bindparam("p_now", type_=instant),
        )
    )


def record_outcomes(db: Db, outcomes: Sequence[Outcome], now: datetime) -> None:
    """One statement for many outcomes, each only on a row still ours.

    Feedback may have moved a sent row on already; then only its MessageId
    and send time are written.
    """
    if not outcomes:
        return
    values = [
        {
            "p_id": outcome.delivery_id,
            "p_owned_at": outcome.owned_at,
            "p_state": str(outcome.attempt.state),
            "p_message_id": outcome.attempt.message_id,
            "p_sent_at": now if outcome.attempt.state is State.SENT else None,
            "p_error": outcome.attempt.error,
            "p_back": 1 if outcome.attempt.hand_back and outcome.marked else 0,
            "p_now": now,
        }
        for outcome in outcomes
    ]
    db.execute(_record_statement(), values[0] if len(values) == 1 else values)


class Ledger:
    """Outcomes wait for the next write: the next delivery's in-flight mark, or
    the end of the chunk.  One short transaction per message, not two."""

    def __init__(self, writer: Writer, clock: Callable[[], datetime]) -> None:
        self.writer, self.clock = writer, clock
        self.pending: list[Outcome] = []
        self.owned: dict[int, datetime] = {}  # marked in flight: delivery id → its stamp

    def mark(self, delivery_id: int, claimed_at: datetime, owned_at: datetime) -> bool:
        """Record what is pending and mark `delivery_id` in flight; False: not ours."""
        outcomes, now = list(self.pending), self.clock()

        def write(connection: Connection) -> bool:
            record_outcomes(connection, outcomes, now)
            return mark_in_flight(connection, delivery_id, claimed_at, owned_at)

        ours = self.writer.run(write)
        del self.pending[: len(outcomes)]
        if ours:
            self.owned[delivery_id] = owned_at
        return ours

    def flush(self) -> None:
        if self.pending:
            outcomes, now = list(self.pending), self.clock()
            self.writer.run(lambda connection: record_outcomes(connection, outcomes, now))
            self.pending.clear()
