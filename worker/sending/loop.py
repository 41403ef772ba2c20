"""Send queued deliveries: claim, check again, pace, send, record.

A batch (the ids of one wake-up message) goes out a small chunk at a time.
Each chunk is claimed with a conditional update (queued → sending), so two
workers can never both send one delivery, and its addresses are checked for
suppression and unsubscribe in the same breath, right before sending.  Each
message is marked in flight right before its pacing slot and SES call, and
its outcome is written in the same transaction as the next mark (or at the
end of the chunk), so a worker killed at any moment leaves at most one
delivery whose fate is unknown (worker/sending/rows.py).  Each message
follows the error-class rules of worker/sending/attempt.py.

When sending is held on all workers (account paused, quota spent), nothing
more is claimed: paused-account deliveries stay `queued`, quota-held ones
become `paused`, and `SendingHeld` is raised so the run or the actor says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from worker.core.config import Settings
from worker.core.delivery_states import State
from worker.core.models import Delivery, Subscriber, Subscription, Suppression
from worker.core.tokens import mail_domain
from worker.digests.digest import build_digest
from worker.digests.jobs import bound_to, pending_notifications
from worker.digests.mime import digest_message
from worker.digests.schedule import subscriber_zone
from worker.sending.attempt import Attempt, Message, send_one
from worker.sending.control import Hold
from worker.sending.gate import SendGate, gate_of
from worker.sending.outbox import Sender
from worker.sending.rows import (
    UNCERTAIN,
    Ledger,
    Outcome,
    Writer,
    claim_for_sending,
    park_for_quota,
    resume_paused,
)

log = logging.getLogger(__name__)
CHUNK = 25  # deliveries claimed and checked again together
BATCH_SECONDS = 300.0  # a batch claims no new chunk after this; the rest wait queued
TIMEOUTS_BEFORE_GIVING_UP = 2  # deliveries in a row lost to timeouts: SES is down, stop


@dataclass
class SendResult:
    sent: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)  # back in the queue, unsent, not failed
    paused: list[int] = field(default_factory=list)  # waiting for 24-hour quota room
    resumed: list[int] = field(default_factory=list)  # paused → queued: the quota has room
    empty: list[int] = field(default_factory=list)
    throttled: int = 0  # "too fast" answers from SES
    uncertain_retries: int = 0  # sends retried after a timeout: possible duplicates
    hold: Hold | None = None


class SendingHeld(Exception):
    """SES sending is held on all workers; the deliveries wait, nothing is lost."""

    def __init__(self, hold: Hold, result: SendResult) -> None:
        super().__init__(f"SES sending held: {hold.describe()}")
        self.hold = hold
        self.result = result


def message_id(settings: Settings, delivery_id: int, window: datetime) -> str:
    return f"<digest-{delivery_id}-{window:%Y%m%d%H%M%S}@{mail_domain(settings)}>"


def _chunk_rows(session: Session, delivery_ids: Sequence[int]) -> list[Any]:
    """The claimed deliveries with their subscriber, and whether mail may still go to them."""
    suppressed = exists().where(Suppression.email == Subscriber.email)
    still_wanted = exists().where(
        Subscription.subscriber_id == Delivery.subscriber_id,
        Subscription.frequency == Delivery.frequency,
        Subscription.active.is_(True),
    )
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.frequency,
            Delivery.window,
            Delivery.attempts,
            Subscriber.id.label("subscriber_id"),
            Subscriber.email,
            Subscriber.timezone,
            Subscriber.link_key,
            (suppressed | ~still_wanted).label("unwanted"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(delivery_ids))
        .order_by(Delivery.id)
    )
    return list(rows)


class LostClaim(Exception):
    """The row was taken from this worker (released as stale, claimed by another)."""


@dataclass
class _Batch:
    """One call's shared state: its clock, the gate, the running tally."""

    session_factory: Any
    settings: Settings
    sender: Sender
    gate: SendGate
    now: datetime
    result: SendResult
    started: float = field(default_factory=time.monotonic)
    timeouts_in_a_row: int = 0

    def clock(self) -> datetime:
        """`now` moved on by the time this batch has taken: fresh ownership stamps."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started > BATCH_SECONDS

    def ses_silent(self) -> bool:
        return self.timeouts_in_a_row >= TIMEOUTS_BEFORE_GIVING_UP


def send_deliveries(
    session_factory: Any,
    settings: Settings,
    sender: Sender,
    delivery_ids: Sequence[int],
    now: datetime,
    *,
    gate: SendGate | None = None,
) -> SendResult:
    """Send a batch; raises SendingHeld (after recording everything) when sending is held."""
    gate = gate or gate_of(sender)
    batch = _Batch(session_factory, settings, sender, gate, now, SendResult())
    result = batch.result
    hold = gate.check_account()
    if hold is None:
        with session_factory() as session, session.begin():
            result.resumed = resume_paused(session, now)
    ids = sorted(set(delivery_ids))
    for start in range(0, len(ids), CHUNK):
        hold = hold or result.hold
        if hold is not None:
            if hold.reason == "quota":
                with session_factory() as session, session.begin():
                    result.paused += park_for_quota(session, ids[start:], batch.clock())
            result.hold = hold
            raise SendingHeld(hold, result)
        if batch.out_of_time() or batch.ses_silent():
            break  # the rest stay queued: the reconciler wakes them
        _send_chunk(batch, ids[start : start + CHUNK])
    if result.hold is not None:
        raise SendingHeld(result.hold, result)
    return result


def _send_chunk(batch: _Batch, chunk_ids: list[int]) -> None:
    claimed_at = batch.clock()
    with batch.session_factory() as session, session.begin():
        claimed = claim_for_sending(session, chunk_ids, claimed_at)
        rows = _chunk_rows(session, claimed) if claimed else []
        notes = pending_notifications(session, bound_to(claimed)) if claimed else {}
        engine = session.get_bind()
    unrecorded = {row.id for row in rows}
    with engine.connect() as connection:  # held for the chunk: a short transaction per write
        ledger = Ledger(Writer(connection), batch.clock)
        try:
            for row in rows:
                outcome = _deliver(batch, ledger, row, notes, claimed_at)
                if outcome is not None:
                    ledger.pending.append(outcome)
                    _tally(batch.result, row.id, outcome.attempt)
                unrecorded.discard(row.id)
        finally:
            # An unexpected error (database, Redis) before a request left: hand back the rest.
            interrupted = Attempt(State.QUEUED, error="interrupted", hand_back=True)
            ledger.pending += [
                Outcome(i, interrupted, ledger.owned.get(i, claimed_at), i in ledger.owned)
                for i in sorted(unrecorded)
            ]
            ledger.flush()


def _deliver(
    batch: _Batch, ledger: Ledger, row: Any, notes: Any, claimed_at: datetime
) -> Outcome | None:
    """The outcome for one claimed row, or None when the row was taken from us."""
    if batch.result.hold is not None:
        return Outcome(row.id, _still_held(batch.result.hold), claimed_at, False)
    if batch.ses_silent():
        attempt = Attempt(State.QUEUED, error="SES is not answering", hand_back=True)
        return Outcome(row.id, attempt, claimed_at, False)
    if row.unwanted:
        attempt = Attempt(State.SUPPRESSED, error="suppressed or unsubscribed")
        return Outcome(row.id, attempt, claimed_at, False)
    rendered = _render(batch.settings, row, notes, batch.now)
    if isinstance(rendered, Attempt):
        return Outcome(row.id, rendered, claimed_at, False)
    owned_at = batch.clock()
    marked: list[bool] = []

    def mark() -> None:
        if not ledger.mark(row.id, claimed_at, owned_at):
            raise LostClaim(row.id)
        marked.append(True)

    message = Message(
        delivery_id=row.id,
        to_addr=row.email,
        raw=rendered,
        tags={"delivery": str(row.id), "frequency": row.frequency},
        attempts=row.attempts + 1,
    )
    try:
        attempt = send_one(batch.sender, batch.gate, message, before_first_call=mark)
    except LostClaim:
        log.warning("delivery %d was taken from this worker; not sent here", row.id)
        return None
    timed_out = (attempt.error or "").startswith(UNCERTAIN)
    batch.timeouts_in_a_row = batch.timeouts_in_a_row + 1 if timed_out else 0
    return Outcome(row.id, attempt, owned_at if marked else claimed_at, bool(marked))


def _render(settings: Settings, row: Any, notes: Any, now: datetime) -> bytes | Attempt:
    digest = build_digest(
        row.frequency, notes.get((row.subscriber_id, row.frequency), []), settings.digest_item_cap
    )
    if digest is None:
        return Attempt(State.EMPTY)
    subscriber = {
        "id": row.subscriber_id,
        "email": row.email,
        "timezone": row.timezone,
        "link_key": row.link_key,
    }
    try:
        local_now = now.astimezone(subscriber_zone(row.timezone))
        return digest_message(
            settings, subscriber, digest, local_now, message_id(settings, row.id, row.window)
        )
    except Exception as error:  # noqa: BLE001 - one bad digest must not stop the batch
        log.exception("delivery %d could not be rendered", row.id)
        return Attempt(State.FAILED, error=f"could not render: {error}")


def _still_held(hold: Hold) -> Attempt:
    state = State.PAUSED if hold.reason == "quota" else State.QUEUED
    return Attempt(state, error=f"held: {hold.describe()}", hand_back=True)


def _tally(result: SendResult, delivery_id: int, attempt: Attempt) -> None:
    result.throttled += attempt.throttled
    result.uncertain_retries += attempt.uncertain_retries
    if attempt.hold is not None and result.hold is None:
        result.hold = attempt.hold
    if attempt.state is State.SENT:
        result.sent.append(delivery_id)
    elif attempt.state is State.SUPPRESSED:
        result.suppressed.append(delivery_id)
    elif attempt.state is State.FAILED:
        result.failed.append((delivery_id, attempt.error or ""))
    elif attempt.state is State.PAUSED:
        result.paused.append(delivery_id)
    elif attempt.state is State.EMPTY:
        result.empty.append(delivery_id)
    else:
        result.requeued.append(delivery_id)
