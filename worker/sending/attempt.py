"""One message through the gate and the sender, with one retry layer per error class.

- rate: the shared pacer slows down; the message goes round again (its next
  slot is the delay), a few times, then back to the queue.  Not a failure.
- quota / pause: every worker stops (the shared hold); the message is handed
  back unsent: `paused` for quota, `queued` for pause.
- permanent: failed, never retried.
- transient: tenacity, bounded exponential backoff with full jitter; each try
  takes its own pacing slot.  Still failing: back to the queue, and after
  MAX_SEND_ATTEMPTS claims, failed.
- uncertain (a timeout after the request went out): retried once, counted;
  whatever the retry answers other than success fails the delivery, because
  the first try may have been sent.

`take` (the send loop's check and in-flight mark) runs once, after the first
pacing slot is granted and right before the first request: a worker stopped
while it waits for its slot has marked nothing, so its row goes back to the
queue untouched instead of counting as a send SES may have seen.
`while_waiting` runs when a slot is some way off (the send loop writes
its earlier outcomes then, rather than after the wait).

No database here: the result is an `Attempt` the send loop records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from worker.core.delivery_states import State, can_transition
from worker.core.metrics import count
from worker.sending.control import Hold, HoldReason
from worker.sending.gate import SendGate, gate_of
from worker.sending.outbox import Sender
from worker.sending.pacer import QuotaSpent, SendingStopped, WhileWaiting
from worker.sending.ses_errors import ErrorClass, SendFailure, classify_exception

log = logging.getLogger("worker.sending.ses")

RATE_RETRIES = 3  # goes round again after "too fast", then back to the queue
TRANSIENT_TRIES = 4  # tenacity attempts per message
BACKOFF_MULTIPLIER = 0.1  # seconds: waits drawn from [0, 0.1], [0, 0.2], [0, 0.4]
BACKOFF_MAX = 2.0
MAX_SEND_ATTEMPTS = 5  # claims that may have reached SES before a delivery fails


@dataclass
class Attempt:
    """How one delivery's send ended, ready to record."""

    state: State
    message_id: str | None = None
    error: str | None = None
    hand_back: bool = False  # never reached SES: the claim does not count as an attempt
    hold: Hold | None = None  # sending stopped on all workers
    throttled: int = 0
    uncertain_retries: int = 0

    def __post_init__(self) -> None:
        if not can_transition(State.SENDING, self.state):
            raise ValueError(f"a send cannot end in {self.state}")


@dataclass
class Message:
    delivery_id: int
    to_addr: str
    raw: bytes
    tags: Mapping[str, str]
    attempts: int = 1  # claims so far, this one included


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, SendFailure) and error.error_class is ErrorClass.TRANSIENT


class NotTaken(Exception):
    """`take` refused the message after its slot: nothing was sent; `attempt` says why."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.error)
        self.attempt = attempt


Take = Callable[[], "Attempt | None"]  # None: go ahead; an Attempt: do not send, end so


def _one_call(
    sender: Sender,
    gate: SendGate,
    message: Message,
    sleep: Callable[[float], None],
    take: Take,
    while_waiting: WhileWaiting,
) -> str:
    """Pacing slot, `take`, SES call; tenacity around transient failures only."""
    retrying = Retrying(
        stop=stop_after_attempt(TRANSIENT_TRIES),
        wait=wait_random_exponential(multiplier=BACKOFF_MULTIPLIER, max=BACKOFF_MAX),
        retry=retry_if_exception(_is_transient),
        reraise=True,
        sleep=sleep,
    )
    for attempt in retrying:
        with attempt:
            gate.wait_for_slot(while_waiting)
            refused = take()
            if refused is not None:
                raise NotTaken(refused)
            try:
                return sender.send(
                    to_addr=message.to_addr,
                    raw=message.raw,
                    delivery_id=message.delivery_id,
                    tags=dict(message.tags),
                )
            except SendFailure:
                raise
            except Exception as error:  # noqa: BLE001 - any sender error gets a class
                raise classify_exception(error) from error
    raise AssertionError("unreachable: tenacity reraises")


def send_one(
    sender: Sender,
    gate: SendGate,
    message: Message,
    sleep: Callable[[float], None] | None = None,
    *,
    take: Take | None = None,
    while_waiting: WhileWaiting = None,
) -> Attempt:
    """Send `message`, following the error-class rules above; never raises for SES errors.

    `take` runs once, between the first granted slot and the first request.
    """
    sleep = sleep or time.sleep
    throttled = 0
    uncertain = 0
    pending = take

    def take_once() -> Attempt | None:
        nonlocal pending
        first, pending = pending, None
        return first() if first is not None else None

    while True:
        try:
            message_id = _one_call(sender, gate, message, sleep, take_once, while_waiting)
            return Attempt(State.SENT, message_id, throttled=throttled, uncertain_retries=uncertain)
        except NotTaken as refused:
            return refused.attempt
        except SendingStopped:
            outcome = _held(gate.hold(), uncertain)
        except QuotaSpent:
            hold = gate.stop("quota", "Max24HourSend", "the 24-hour sending quota is spent")
            outcome = _held(hold, uncertain)
        except SendFailure as failure:
            kind = failure.error_class
            count("trialalerts_ses_errors_total", error_class=str(kind))
            if kind is ErrorClass.RATE:
                throttled += 1
                gate.slow_down()
            if kind is ErrorClass.QUOTA or kind is ErrorClass.PAUSE:
                reason: HoldReason = "quota" if kind is ErrorClass.QUOTA else "pause"
                outcome = _held(gate.stop(reason, failure.code, failure.message), uncertain)
            elif uncertain:
                outcome = _failed_after_timeout(failure)
            elif kind is ErrorClass.RATE:
                if throttled <= RATE_RETRIES:
                    continue
                outcome = Attempt(State.QUEUED, error=str(failure), hand_back=True)
            elif kind is ErrorClass.PERMANENT:
                log.error(
                    "delivery %d failed for good: %s",
                    message.delivery_id,
                    failure,
                    extra={"delivery_id": message.delivery_id},
                )
                outcome = Attempt(State.FAILED, error=str(failure))
            elif kind is ErrorClass.UNCERTAIN:
                uncertain = 1
                log.warning(
                    "delivery %d: %s after the request went out; SES may have accepted it; "
                    "retrying once (a possible duplicate, counted)",
                    message.delivery_id,
                    failure.code,
                    extra={"delivery_id": message.delivery_id},
                )
                continue
            elif message.attempts >= MAX_SEND_ATTEMPTS:
                outcome = Attempt(
                    State.FAILED, error=f"gave up after {message.attempts} attempts: {failure}"
                )
            else:
                outcome = Attempt(State.QUEUED, error=str(failure))
        outcome.throttled, outcome.uncertain_retries = throttled, uncertain
        return outcome


def _held(hold: Hold | None, uncertain: int) -> Attempt:
    if uncertain:
        return Attempt(
            State.FAILED,
            error="uncertain: timed out after the request went out, SES may have accepted it; "
            "the one retry was stopped by a sending hold",
            hold=hold,
        )
    if hold is not None and hold.reason == "quota":
        return Attempt(State.PAUSED, error=f"held: {hold.describe()}", hand_back=True, hold=hold)
    detail = hold.describe() if hold is not None else "sending held"
    return Attempt(State.QUEUED, error=f"held: {detail}", hand_back=True, hold=hold)


def _failed_after_timeout(failure: SendFailure) -> Attempt:
    return Attempt(
        State.FAILED,
        error=f"uncertain: timed out after the request went out, SES may have accepted it; "
        f"the one retry failed ({failure})",
    )


class NotSent(Exception):
    """A single message that did not go; `state` says whether it may go later."""

    def __init__(self, state: State, error: str | None) -> None:
        super().__init__(f"not sent ({state}): {error}")
        self.state = state
        self.error = error


def send_single(
    sender: Sender, *, to_addr: str, raw: bytes, delivery_id: int, tags: Mapping[str, str]
) -> str:
    """One message outside the digest queue (a sign-up confirmation), under the same
    pacing, holds and error classes as digests.  Returns the provider's message id;
    raises NotSent (state `queued`/`paused`: may go later; `failed`: never)."""
    gate = gate_of(sender)
    gate.check_account()
    attempt = send_one(sender, gate, Message(delivery_id, to_addr, raw, tags))
    if attempt.state is State.SENT and attempt.message_id is not None:
        return attempt.message_id
    raise NotSent(attempt.state, attempt.error)
