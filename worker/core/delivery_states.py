"""Delivery states and the only moves between them (pure).

A delivery is one digest email.  Its state changes through conditional
updates (`WHERE state IN sources_of(target)`), so two workers can never both
send one delivery, and a late or repeated event can never move it backwards.

Every pair below says, in one line, what it means and what happens to
duplicates and out-of-order events.  A pair marked IGNORE is a legal event
that changes nothing; a pair that is not listed at all is a bug.

They live in core because every stage from the tables and digest building up
to the reconciler names these states; the moves are made by sending and feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    BUILDING = "building"  # claimed digest window, notifications being bound
    EMPTY = "empty"  # nothing to say: the window is spent, no email
    QUEUED = "queued"  # ready to send; the reconciler wakes it if its message is lost
    SENDING = "sending"  # claimed by one worker, on its way to SES
    SENT = "sent"  # SES accepted it; `message_id` is SES's MessageId
    DELIVERED = "delivered"  # SES feedback: the receiving server took it
    BOUNCED = "bounced"  # SES feedback: the receiving server refused it
    COMPLAINED = "complained"  # SES feedback: the recipient marked it as spam
    FAILED = "failed"  # never sent and never retried (permanent error, retries spent)
    SUPPRESSED = "suppressed"  # suppressed or unsubscribed when it was about to go
    PAUSED = "paused"  # the 24-hour quota is spent; back to queued when there is room


FEEDBACK_STATES = (State.DELIVERED, State.BOUNCED, State.COMPLAINED)  # what SES reports later


@dataclass(frozen=True)
class Move:
    apply: bool  # False: a legal event that leaves the state as it is
    why: str


def _move(why: str) -> Move:
    return Move(True, why)


def _ignore(why: str) -> Move:
    return Move(False, why)


S = State
TABLE: dict[tuple[State, State], Move] = {
    (S.BUILDING, S.QUEUED): _move("notifications bound; a second builder finds nothing to bind"),
    (S.BUILDING, S.EMPTY): _move("nothing pending for this window: no email"),
    (S.QUEUED, S.SENDING): _move("claimed by one worker; a second claim matches no row"),
    (S.QUEUED, S.PAUSED): _move("the quota is spent: wait, unsent, for room"),
    (S.PAUSED, S.QUEUED): _move("the quota has room again; a second resume matches no row"),
    (S.SENDING, S.SENT): _move("SES accepted it; the MessageId is stored"),
    (S.SENDING, S.QUEUED): _move("released unsent (rate, pause, transient errors): not a failure"),
    (S.SENDING, S.PAUSED): _move("the quota ran out before it went"),
    (S.SENDING, S.FAILED): _move("permanent error, retries spent, or a timeout whose retry failed"),
    (S.SENDING, S.SUPPRESSED): _move("suppressed or unsubscribed since it was queued"),
    (S.SENDING, S.EMPTY): _move("its notifications are gone: nothing left to send"),
    # Feedback can overtake our own record of the send: SES answers, delivers
    # and reports before the worker writes `sent`.  The worker's later write
    # then keeps the feedback state and only stores the MessageId.
    (S.SENDING, S.DELIVERED): _move("feedback arrived before the send was recorded"),
    (S.SENDING, S.BOUNCED): _move("feedback arrived before the send was recorded"),
    (S.SENDING, S.COMPLAINED): _move("feedback arrived before the send was recorded"),
    (S.SENT, S.SENT): _ignore("a duplicate acceptance changes nothing"),
    # SES's Send event names the delivery (tag) and proves SES took it: it settles
    # a send whose worker stopped before recording it, before any resend.  So does
    # the worker's own answer when it comes after the lease ran out.
    (S.QUEUED, S.SENT): _move(
        "released as uncertain, proved sent (Send event, late answer): no resend"
    ),
    (S.FAILED, S.SENT): _move("a Send event for a send failed as uncertain: it went out"),
    (S.DELIVERED, S.SENT): _ignore("a Send event that arrived after the delivery notice"),
    (S.BOUNCED, S.SENT): _ignore("a Send event that arrived after the bounce"),
    (S.COMPLAINED, S.SENT): _ignore("a Send event that arrived after the complaint"),
    (S.SENT, S.DELIVERED): _move("the receiving server took it"),
    (S.SENT, S.BOUNCED): _move("the receiving server refused it"),
    (S.SENT, S.COMPLAINED): _move("the recipient complained (the delivery notice may come later)"),
    (S.DELIVERED, S.DELIVERED): _ignore("a duplicate delivery notice"),
    (S.DELIVERED, S.BOUNCED): _move("an asynchronous bounce after delivery overrides it"),
    (S.DELIVERED, S.COMPLAINED): _move("a complaint after delivery, the usual order"),
    (S.BOUNCED, S.DELIVERED): _ignore("a late delivery notice never undoes a bounce"),
    (S.BOUNCED, S.BOUNCED): _ignore("a duplicate bounce"),
    (S.BOUNCED, S.COMPLAINED): _move(
        "a complaint is the stronger signal; the address is suppressed"
    ),
    (S.COMPLAINED, S.DELIVERED): _ignore("a delivery notice that arrived after the complaint"),
    (S.COMPLAINED, S.BOUNCED): _ignore("a complaint already stopped this address"),
    (S.COMPLAINED, S.COMPLAINED): _ignore("a duplicate complaint"),
    # A send that timed out twice is failed, but SES may have taken it after all.
    (S.FAILED, S.DELIVERED): _move("feedback proves SES sent it after a timed-out send"),
    (S.FAILED, S.BOUNCED): _move("feedback proves SES sent it after a timed-out send"),
    (S.FAILED, S.COMPLAINED): _move("feedback proves SES sent it after a timed-out send"),
    (S.SUPPRESSED, S.SUPPRESSED): _ignore("already suppressed"),
}


def can_transition(current: str, target: str) -> bool:
    """True when `current → target` changes the state."""
    move = TABLE.get((State(current), State(target)))
    return move is not None and move.apply


def sources_of(target: str) -> tuple[str, ...]:
    """States that `target` moves from: the WHERE clause of a conditional update."""
    goal = State(target)
    return tuple(str(s) for (s, t), move in TABLE.items() if t == goal and move.apply)
