"""Service functions behind actors, CLI and web: one transaction, then the wake-ups.

Follow-up messages are sent only after the transaction that created their
work has committed, so a message never points at a row that isn't there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import IO, Any

from worker.core.delivery_states import State
from worker.core.metrics import count, set_gauge
from worker.core.runtime import Runtime, get_runtime
from worker.digests.jobs import bind_notifications, claim_windows, due_streams
from worker.ingest.deadletters import list_dead_letters
from worker.ingest.events import RawItem, items_of, read_items
from worker.ingest.publish import PublishReport, chunks, publish_items, replay_dead_letters
from worker.ingest.snapshots import IngestResult, ingest_events
from worker.matching.criteria_index import criteria_index_of
from worker.matching.fanout import MatchResult, match_events
from worker.queue.broker import enqueue
from worker.sending.confirmation import mail_signup
from worker.sending.gate import gate_of
from worker.sending.loop import SendResult, send_deliveries
from worker.sending.senders import sender_of
from worker.subscriptions.signups import request_signup

DELIVERY_BATCH = 100

log = logging.getLogger(__name__)


def _wake_ingest(runtime: Runtime) -> Any:
    return lambda ids: enqueue(runtime.settings, "events.ingest", ids)


def _publish(runtime: Runtime, items: Iterable[RawItem], origin: str) -> PublishReport:
    report = publish_items(
        runtime.sessions,
        items,
        origin,
        runtime.now,
        _wake_ingest(runtime),
        runtime.settings.ingest_batch_size,
    )
    count("trialalerts_events_total", report.accepted, outcome="accepted")
    count("trialalerts_events_total", report.duplicates, outcome="duplicate")
    count("trialalerts_events_total", len(report.rejections), outcome="rejected")
    return report


def publish(events: Any, origin: str = "python", runtime: Runtime | None = None) -> PublishReport:
    """`worker.ingest.publish(event_or_events)`: one CloudEvent dict or an iterable of them."""
    return _publish(runtime or get_runtime(), items_of(events), origin)


def publish_raw(
    items: Iterable[RawItem], origin: str, runtime: Runtime | None = None
) -> PublishReport:
    """Items the caller built and named itself (the poller names each study by its page URL)."""
    return _publish(runtime or get_runtime(), items, origin)


def publish_stream(stream: IO[bytes], origin: str, runtime: Runtime | None = None) -> PublishReport:
    """A file or stdin: one JSON event, a JSON array, or JSONL."""
    return _publish(runtime or get_runtime(), read_items(stream), origin)


def ingest_batch(event_pks: list[int], runtime: Runtime | None = None) -> IngestResult:
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        result = ingest_events(session, event_pks, runtime.now())
    for outcome, number in result.outcomes.items():
        count("trialalerts_ingested_total", number, outcome=outcome)
    count("trialalerts_changes_total", result.change_count)
    if result.changed_event_pks:
        enqueue(runtime.settings, "changes.match", result.changed_event_pks)
    log.info(
        "ingested %d events: %s, %d changes", len(event_pks), result.outcomes, result.change_count
    )
    return result


def match_batch(event_pks: list[int], runtime: Runtime | None = None) -> MatchResult:
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        result = match_events(session, event_pks, runtime.now(), criteria_index_of(runtime))
    count("trialalerts_notifications_total", result.notifications)
    log.info(
        "matched %d changes: %d newly matched criteria, %d notifications",
        result.changes,
        result.newly_matched,
        result.notifications,
    )
    return result


def schedule_digests(runtime: Runtime | None = None, flush_instant: bool = False) -> int:
    """Claim every due digest window and wake the builders; returns how many were claimed."""
    runtime = runtime or get_runtime()
    now = runtime.now()
    delay = timedelta(seconds=runtime.settings.instant_delay_seconds)
    with runtime.sessions() as session, session.begin():
        claimed = claim_windows(session, due_streams(session, now, delay, flush_instant), now)
    for batch in chunks(claimed, DELIVERY_BATCH):
        enqueue(runtime.settings, "digests.build", batch)
    return len(claimed)


def build_batch(delivery_ids: list[int], runtime: Runtime | None = None) -> list[int]:
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        queued = bind_notifications(session, delivery_ids, runtime.now())
    count("trialalerts_digests_total", len(queued), state=State.QUEUED)
    count("trialalerts_digests_total", len(delivery_ids) - len(queued), state=State.EMPTY)
    if queued:
        enqueue(runtime.settings, "deliveries.send", queued)
    return queued


def send_batch(delivery_ids: list[int], runtime: Runtime | None = None) -> SendResult:
    runtime = runtime or get_runtime()
    result = send_deliveries(
        runtime.sessions, runtime.settings, sender_of(runtime), delivery_ids, runtime.now()
    )
    log.info(
        "sent %d, suppressed %d, failed %d, requeued %d, paused %d, throttled %d, "
        "retried after a timeout %d",
        len(result.sent), len(result.suppressed), len(result.failed), len(result.requeued),
        len(result.paused), result.throttled, result.uncertain_retries,
    )  # fmt: skip
    for outcome, ids in (("sent", result.sent), ("suppressed", result.suppressed),
                         ("failed", result.failed), ("requeued", result.requeued),
                         ("paused", result.paused)):  # fmt: skip
        count("trialalerts_sends_total", len(ids), outcome=outcome)
    rate = gate_of(sender_of(runtime)).pacer.rate()
    if math.isfinite(rate):  # the file outbox is not paced
        set_gauge("trialalerts_pacer_rate", rate)
    for batch in chunks(result.resumed, DELIVERY_BATCH):
        enqueue(runtime.settings, "deliveries.send", batch)
    return result


def sign_up(fields: Mapping[str, object], client_address: str, runtime: Runtime) -> None:
    """POST /signup: validate (ValueError) and record, then wake the mailer after commit.

    Nothing is sent here, so the answer cannot tell a new address from a
    suppressed or over-limit one by its timing. A lost wake-up only delays
    the mail: the reconciler finds the unmailed sign-up.
    """
    outcome = request_signup(fields, client_address, runtime)
    if outcome.signup_id is None:
        return
    try:
        enqueue(runtime.settings, "signups.mail", [outcome.signup_id])
    except Exception:  # noqa: BLE001 - the row is the work; the reconciler wakes it
        log.exception("sign-up %d recorded, its wake-up not sent", outcome.signup_id)


def mail_signups(signup_ids: list[int], runtime: Runtime | None = None) -> None:
    """Send each sign-up's confirmation mail, once (worker.sending.confirmation)."""
    runtime = runtime or get_runtime()
    for signup_id in signup_ids:
        outcome = mail_signup(runtime, signup_id)
        log.info("confirmation of sign-up %d: %s", signup_id, outcome)


def poll_feedback_queue(runtime: Runtime | None = None, wait_seconds: int = 20) -> Any:
    """Apply SES bounce/complaint/delivery feedback waiting in SQS."""
    from worker.feedback.poll import poll_feedback

    return poll_feedback(runtime or get_runtime(), wait_seconds=wait_seconds)


def replay(
    letter_id: int | None = None, runtime: Runtime | None = None
) -> tuple[int, list[tuple[int, str]]]:
    """Re-publish dead letters (all not yet replayed, or one); returns (accepted, still bad)."""
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        letters = list_dead_letters(session, letter_id=letter_id)
        new_ids, still_bad = replay_dead_letters(session, letters, runtime.now())
    if new_ids:
        _wake_ingest(runtime)(new_ids)
    return len(letters) - len(still_bad), still_bad
