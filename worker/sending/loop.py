"""Send queued deliveries: claim, check again, pace, send, record.

A batch (the ids of one wake-up message) goes out a small chunk at a time.
Who owns a row, how its lease is renewed while a chunk is worked, the check
of the address right before each message, and what happens to the rows of a
stopped worker: worker/sending/rows.py, the one home of that protocol.  Each
message follows the error-class rules of worker/sending/attempt.py.

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

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.config import Settings
from worker.core.delivery_states import State
from worker.core.models import Delivery, Subscriber
from worker.core.sql import one_of
from worker.core.tokens import mail_domain
from worker.digests.digest import build_digest
from worker.digests.jobs import bound_to, pending_notifications
from worker.digests.mime import digest_message
from worker.digests.schedule import subscriber_zone
from worker.sending.attempt import Attempt, Message, send_one
from worker.sending.control import Hold
from worker.sending.gate import SendGate, gate_of
from worker.sending.outbox import Sender
from worker.sending.rows import UNCERTAIN, Chunk, claim_for_sending, park_for_quota, resume_paused
from worker.sending.writer import Writer

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
    """The claimed deliveries with their subscriber."""
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
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(one_of(session, Delivery.id, delivery_ids))
        .order_by(Delivery.id)
    )
    return list(rows)


@dataclass
class _Batch:
    """One call's shared state: its clock, the gate, the running tally."""

    session_factory: Any
    settings: Settings
    sender: Sender
    gate: SendGate
    now: datetime
    result: SendResult
    lease: timedelta
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
    lease = timedelta(seconds=settings.sending_lease_seconds)
    batch = _Batch(session_factory, settings, sender, gate, now, SendResult(), lease)
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
    with engine.connect() as connection:  # held for the chunk: a short transaction per write
        chunk = Chunk(Writer(connection), batch.clock, batch.lease, claimed, claimed_at)
        try:
            for row in rows:
                attempt = _deliver(batch, chunk, row, notes)
                if attempt is not None:
                    chunk.settle(row.id, attempt)
                    _tally(batch.result, row.id, attempt)
        finally:
            # An unexpected error (database, Redis, a time limit): hand back the rows not
            # tried; one whose request went out stays in flight (rows.Chunk.close).
            chunk.close(Attempt(State.QUEUED, error="interrupted", hand_back=True))


def _deliver(batch: _Batch, chunk: Chunk, row: Any, notes: Any) -> Attempt | None:
    """How one claimed row's send ended, or None when the row was taken from us."""
    if row.id not in chunk.open:
        _taken_from_us(row.id)
        return None
    if batch.result.hold is not None:
        return _still_held(batch.result.hold)
    if batch.ses_silent():
        return Attempt(State.QUEUED, error="SES is not answering", hand_back=True)
    rendered = _render(batch.settings, row, notes, batch.now)
    if isinstance(rendered, Attempt):
        return rendered

    def take() -> Attempt | None:
        """After the pacing slot, right before the SES call: still ours, still wanted?"""
        taken = chunk.take(row.id)
        if taken == "unwanted":
            return Attempt(State.SUPPRESSED, error="suppressed or unsubscribed")
        if taken == "lost":
            return Attempt(State.QUEUED, error="taken from this worker", hand_back=True)
        return None

    message = Message(
        delivery_id=row.id,
        to_addr=row.email,
        raw=rendered,
        tags={"delivery": str(row.id), "frequency": row.frequency},
        attempts=row.attempts + 1,
    )
    attempt = send_one(
        batch.sender, batch.gate, message, take=take, while_waiting=chunk.write_pending
    )
    if row.id not in chunk.open:
        _taken_from_us(row.id)
        return None
    timed_out = (attempt.error or "").startswith(UNCERTAIN)
    batch.timeouts_in_a_row = batch.timeouts_in_a_row + 1 if timed_out else 0
    return attempt


def _taken_from_us(delivery_id: int) -> None:
    log.warning(
        "delivery %d was taken from this worker; not sent here",
        delivery_id,
        extra={"delivery_id": delivery_id},
    )


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
        log.exception("delivery %d could not be rendered", row.id, extra={"delivery_id": row.id})
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
