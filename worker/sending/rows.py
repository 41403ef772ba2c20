"""Delivery rows while they are sent: who owns them, and how a stopped worker's rows come back.

The whole protocol is here; the send loop (worker/sending/loop.py) only calls it.

1. Claim.  A chunk of `queued` rows becomes `sending` in one conditional
   update; each row carries the claim's instant in `updated_at`: its stamp.
2. Lease.  A worker owns the `sending` rows that carry its stamp, and each of
   its writes is conditional on that stamp: a row taken from it matches
   nothing, and the worker does not send it.  A stamp older than the lease
   (TRIALALERTS_SENDING_LEASE_SECONDS) means the worker stopped.  So that a
   live worker never looks stopped, a new stamp is written on the chunk's
   rows not yet done before a message, once a third of the lease has passed.
3. Check and mark.  In that same short transaction, once the message's
   pacing slot is granted and right before the SES call, the row is marked
   in flight (`attempts` + 1, `last_error` = IN_FLIGHT) by one statement that
   also checks the address again: not suppressed, a subscription of that
   frequency still active.  A worker stopped while it waits for its slot has
   marked nothing: its row goes back to the queue as it is.  A send cut off
   after its mark by an error in the worker (a time limit, Redis gone at a
   retry's slot) is left in flight, as a stopped worker's would be.
   The outcome is written with the next write: before the next message's
   pacing wait when its slot is some way off (pacer.WORTH_WORKING_FOR),
   otherwise in that message's transaction (or at the end of the chunk),
   so a worker killed at any
   moment leaves at most one row whose fate is unknown.  One message
   (pacing wait and SES call) must take less than two thirds of the lease.
4. Outcome.  Written on the row while it carries the stamp.  A sent message
   is recorded on an overtaken row too: one SES feedback moved on
   (delivered, bounced, complained, no MessageId yet) gets only its MessageId
   and send time; one the reconciler took back as uncertain (step 5) and
   that no worker has in flight again becomes `sent`: no resend follows.
5. Reclaim.  The reconciler's `release_stale_sending` reads and writes stale
   rows in one conditional UPDATE each, so a row renewed or marked meanwhile
   no longer matches (PostgreSQL re-checks the WHERE on the row's new
   version; SQLite runs one writer at a time).  A row never marked goes back
   to the queue as it is; an uncertain one (SES may have it) is resent once,
   a possible duplicate counted in its `last_error` (kept there when that
   resend goes back to the queue unsent or failing transiently), and failed
   the second time.

A write run again after a dropped connection (worker/sending/writer.py) may
meet its own earlier commit; it errs on the safe side: an attempt counted
twice, or rows left to the reconciler, never a message sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    case,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from worker.core.delivery_states import FEEDBACK_STATES, State
from worker.core.models import Delivery, Subscriber, Subscription, Suppression
from worker.core.sql import one_of
from worker.sending.attempt import Attempt
from worker.sending.precompiled import Precompiled
from worker.sending.writer import Writer

log = logging.getLogger(__name__)
Db = Connection | Session  # anything that executes a Core statement
DELIVERIES = cast(Table, Delivery.__table__)
INSTANT = DELIVERIES.c.updated_at.type
UNCERTAIN = "uncertain:"  # last_error prefix: SES may have this one already
IN_FLIGHT = "uncertain: in flight"  # the SES call is under way
RESEND = "uncertain: its worker stopped during the SES call; resent once"
IN_FLIGHT_AGAIN = "uncertain: in flight again after a stopped worker"
GAVE_UP = f"{UNCERTAIN} its worker stopped twice during the SES call; not resent again"
IN_FLIGHT_MARKS = (IN_FLIGHT, IN_FLIGHT_AGAIN)  # a row marked, SES's answer not recorded
RENEW_AFTER = 1 / 3  # of the lease: how old a stamp may get before the next message renews it
Taken = Literal["send", "unwanted", "lost"]


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    attempt: Attempt
    owned_at: datetime  # the row's stamp while it is ours
    marked: bool  # attempts was counted for this call


def claim_for_sending(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[int]:
    """1. queued → sending, only for rows still queued (the conditional update is the lock)."""
    claimed = session.execute(
        update(DELIVERIES)
        .where(one_of(session, DELIVERIES.c.id, delivery_ids), DELIVERIES.c.state == State.QUEUED)
        .values(state=State.SENDING, updated_at=now)
        .returning(DELIVERIES.c.id)
    )
    return sorted(row.id for row in claimed)


def _ours() -> Any:
    """Still sending and still carrying our stamp (`p_owned_at`)."""
    stamp = bindparam("p_owned_at", type_=INSTANT)
    return (DELIVERIES.c.state == State.SENDING) & (DELIVERIES.c.updated_at == stamp)


def renew_lease(db: Db, delivery_ids: Sequence[int], owned_at: datetime, at: datetime) -> set[int]:
    """2. Stamp `at` on those of these rows still ours; returns their ids."""
    if not delivery_ids:
        return set()
    renewed = db.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(delivery_ids), _ours())
        .values(updated_at=at)
        .returning(DELIVERIES.c.id),
        {"p_owned_at": owned_at},
    )
    return {row.id for row in renewed}


@cache
def _mark_statement() -> Precompiled:
    """Built and compiled once: building a statement costs more than running it."""
    suppressed = exists().where(
        Subscriber.id == DELIVERIES.c.subscriber_id, Suppression.email == Subscriber.email
    )
    still_wanted = exists().where(
        Subscription.subscriber_id == DELIVERIES.c.subscriber_id,
        Subscription.frequency == DELIVERIES.c.frequency,
        Subscription.active.is_(True),
    )
    again = or_(DELIVERIES.c.last_error == RESEND, DELIVERIES.c.last_error == IN_FLIGHT_AGAIN)
    return Precompiled(
        update(DELIVERIES)
        .where(DELIVERIES.c.id == bindparam("p_id"), _ours(), ~suppressed, still_wanted)
        .values(
            attempts=DELIVERIES.c.attempts + 1,
            last_error=case((again, IN_FLIGHT_AGAIN), else_=IN_FLIGHT),
            updated_at=bindparam("p_at", type_=INSTANT),
        )
        .returning(DELIVERIES.c.id)
    )


def mark_in_flight(db: Db, delivery_id: int, owned_at: datetime, at: datetime) -> bool:
    """3. Count the attempt, mark the row in flight, stamp `at`.

    False when the row is no longer ours, or its address may no longer be
    mailed (suppressed, no active subscription of this digest's frequency).
    """
    marked = _mark_statement().execute(
        db, {"p_id": delivery_id, "p_owned_at": owned_at, "p_at": at}
    )
    return marked.first() is not None


def still_ours(db: Db, delivery_id: int, owned_at: datetime) -> bool:
    found = db.execute(
        select(DELIVERIES.c.id).where(DELIVERIES.c.id == delivery_id, _ours()),
        {"p_owned_at": owned_at},
    )
    return found.first() is not None


@cache
def _record_statements() -> tuple[Precompiled, Precompiled, Precompiled]:
    """On a row still ours, one feedback overtook, one taken back; no IN lists: executemany.

    A row resent after an interrupted send that goes back to the queue again
    keeps RESEND as its `last_error`: SES may still have that first send, and
    the next interrupted one is given up (step 5), not resent again.
    """
    state = bindparam("p_state", type_=DELIVERIES.c.state.type)
    resent = or_(DELIVERIES.c.last_error == RESEND, DELIVERIES.c.last_error == IN_FLIGHT_AGAIN)
    back = or_(state == State.QUEUED, state == State.PAUSED)
    ours = (
        update(DELIVERIES)
        .where(DELIVERIES.c.id == bindparam("p_id"), _ours())
        .values(
            state=state,
            message_id=bindparam("p_message_id"),
            sent_at=bindparam("p_sent_at", type_=INSTANT),
            last_error=case((resent & back, RESEND), else_=bindparam("p_error")),
            attempts=DELIVERIES.c.attempts - bindparam("p_back"),
            updated_at=bindparam("p_now", type_=INSTANT),
        )
    )
    overtaken = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == bindparam("p_id"),
            or_(*(DELIVERIES.c.state == state for state in FEEDBACK_STATES)),
            DELIVERIES.c.message_id.is_(None),
        )
        .values(
            message_id=bindparam("p_message_id"),
            sent_at=bindparam("p_sent_at", type_=INSTANT),
            updated_at=bindparam("p_now", type_=INSTANT),
        )
    )
    taken_back = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == bindparam("p_id"),
            or_(DELIVERIES.c.state == State.QUEUED, DELIVERIES.c.state == State.SENDING),
            DELIVERIES.c.last_error == RESEND,  # not yet in flight again
        )
        .values(
            state=State.SENT,
            message_id=bindparam("p_message_id"),
            sent_at=bindparam("p_sent_at", type_=INSTANT),
            last_error=None,
            updated_at=bindparam("p_now", type_=INSTANT),
        )
    )
    return Precompiled(ours), Precompiled(overtaken), Precompiled(taken_back)


def record_outcomes(db: Db, outcomes: Sequence[Outcome], now: datetime) -> None:
    """4. Each outcome on its row while still ours; a sent one also on an overtaken row.

    When every row was still ours, none can have been overtaken or taken
    back, and those two statements are not run (the usual case).
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
    ours, *overtaken = _record_statements()
    written = ours.execute(db, values[0] if len(values) == 1 else values)
    if written.rowcount == len(values):
        return
    sent = [v for v in values if v["p_message_id"] is not None]
    for statement in overtaken if sent else ():
        statement.execute(db, sent[0] if len(sent) == 1 else sent)


def stale_sending(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """`sending` rows not renewed within the lease: their worker stopped, or stalled past it."""
    return (DELIVERIES.c.state == State.SENDING) & (DELIVERIES.c.updated_at <= now - lease)


def release_stale_sending(
    session: Session, now: datetime, older_than: timedelta
) -> tuple[list[int], list[int]]:
    """5. `sending` rows whose worker stopped; returns (back in the queue, failed).

    `older_than` is the sending lease.  Each move is one conditional UPDATE
    whose WHERE holds the lease, checked on the row as it is when written.
    """
    stale = stale_sending(now, older_than)
    in_flight = DELIVERIES.c.last_error.in_(IN_FLIGHT_MARKS)
    moves = [
        (DELIVERIES.c.last_error == IN_FLIGHT_AGAIN, State.FAILED, {"last_error": GAVE_UP}),
        (DELIVERIES.c.last_error == IN_FLIGHT, State.QUEUED, {"last_error": RESEND}),
        (DELIVERIES.c.last_error.is_(None) | ~in_flight, State.QUEUED, {}),  # never marked
    ]
    moved: list[list[int]] = []
    for which, state, values in moves:
        rows = session.execute(
            update(DELIVERIES)
            .where(stale, which)
            .values(state=state, updated_at=now, **values)
            .returning(DELIVERIES.c.id)
        )
        moved.append(sorted(row.id for row in rows))
    give_up, resend, untouched = moved
    if give_up or resend or untouched:
        log.warning(
            "stopped workers left %d deliveries: %d never tried, %d resent once "
            "(possible duplicates), %d failed",
            len(give_up) + len(resend) + len(untouched),
            len(untouched),
            len(resend),
            len(give_up),
        )
    return sorted(untouched + resend), give_up


def park_for_quota(session: Session, delivery_ids: Sequence[int], now: datetime) -> list[int]:
    """queued → paused: the quota is spent, these wait for room."""
    parked = session.execute(
        update(DELIVERIES)
        .where(one_of(session, DELIVERIES.c.id, delivery_ids), DELIVERIES.c.state == State.QUEUED)
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


class Chunk:
    """One claimed chunk as its worker goes through it, message by message (steps 2 to 4).

    `take` once each message's pacing slot is granted, `settle` once its
    outcome is known, `close` at the end (whatever was not settled goes back
    as `interrupted`, but a row marked in flight).  Outcomes wait for the next
    write (one short transaction per message, not two), unless the next slot
    is some way off (`write_pending`).
    """

    def __init__(
        self,
        writer: Writer,
        clock: Callable[[], datetime],
        lease: timedelta,
        delivery_ids: Sequence[int],
        claimed_at: datetime,
    ) -> None:
        self.writer, self.clock, self.lease = writer, clock, lease
        self.stamp = claimed_at  # every row of `open` carries it
        self.open = list(delivery_ids)  # ours, no outcome yet
        self.pending: list[Outcome] = []  # decided, not yet written
        self.marked: set[int] = set()

    def take(self, delivery_id: int) -> Taken:
        """Write what is pending, renew the lease when due, check the address, mark in flight."""
        if delivery_id not in self.open:
            return "lost"
        return self._write(delivery_id)

    def write_pending(self) -> None:
        """The next slot is some way off: write the outcomes now, not after the wait,
        so a worker stopped while it waits leaves no sent message looking in flight."""
        if self.pending:
            self._write(None)

    def _write(self, delivery_id: int | None) -> Taken:
        outcomes, now, owned_at = list(self.pending), self.clock(), self.stamp
        stamp = now if now - owned_at >= self.lease * RENEW_AFTER else owned_at
        still_open = list(self.open)

        def write(connection: Connection) -> tuple[Taken, list[int]]:
            record_outcomes(connection, outcomes, now)
            kept = still_open
            if stamp != owned_at:
                renewed = renew_lease(connection, still_open, owned_at, stamp)
                kept = [i for i in still_open if i in renewed]
            if delivery_id is None or delivery_id not in kept:
                return "lost", kept
            if mark_in_flight(connection, delivery_id, stamp, stamp):
                return "send", kept
            if still_ours(connection, delivery_id, stamp):
                return "unwanted", kept
            return "lost", [i for i in kept if i != delivery_id]

        taken, kept = self.writer.run(write)
        del self.pending[: len(outcomes)]
        self.stamp, self.open = stamp, kept
        if taken == "send" and delivery_id is not None:
            self.marked.add(delivery_id)
        return taken

    def settle(self, delivery_id: int, attempt: Attempt) -> None:
        """The outcome of a row still open; written with the next write."""
        self.open.remove(delivery_id)
        marked = delivery_id in self.marked
        self.pending.append(Outcome(delivery_id, attempt, self.stamp, marked))

    def close(self, interrupted: Attempt) -> None:
        """Hand back the rows left open, write every outcome.

        A row marked in flight and left open was cut off during its SES call
        (an error, a time limit): SES may have it, so it stays in flight and
        the reconciler takes it back as uncertain (step 5), as if this worker
        had stopped.
        """
        for delivery_id in list(self.open):
            if delivery_id not in self.marked:
                self.settle(delivery_id, interrupted)
        if self.pending:
            outcomes, now = list(self.pending), self.clock()
            self.writer.run(lambda connection: record_outcomes(connection, outcomes, now))
            self.pending.clear()
