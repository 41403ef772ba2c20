"""Long-poll the SES feedback queue (SQS), apply what it says, delete what was kept.

Each batch is stored and applied in one transaction by `worker.feedback.store`,
the same code that takes SNS's HTTPS posts (`POST /ses/sns`): a message seen
before, either way, is acknowledged without acting again.  Only after that
commit are the messages deleted from SQS.  Unknown and malformed messages are
stored too, with their reason and the body as received, and then deleted: they
are kept, in the database.  When the database refuses a batch, its messages
are tried one by one; a message that still cannot be stored stays on the
queue, and SQS redelivers it after its visibility timeout (or moves it to the
queue's own dead-letter queue, when one is configured).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from worker.core.metrics import set_gauge
from worker.core.runtime import Runtime
from worker.feedback.store import FeedbackTally, store_feedback

log = logging.getLogger(__name__)


@dataclass
class PollResult(FeedbackTally):
    batches: int = 0
    received: int = 0
    failed: int = 0  # could not be stored: left on the queue
    deleted: int = 0

    def summary(self) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        return (
            f"{self.received} received ({counts or 'none new'}), {self.duplicates} duplicate, "
            f"{self.failed} left on the queue, {self.deleted} deleted, "
            f"{len(self.suppressed)} newly suppressed"
        )


def poll_feedback(
    runtime: Runtime,
    max_messages: int = 10,
    wait_seconds: int = 20,
    max_batches: int = 50,
    client: Any = None,
) -> PollResult:
    """Receive and handle batches until the queue is empty, `max_batches`, or a database failure.

    Does nothing without TRIALALERTS_FEEDBACK_QUEUE_URL.  `client` is an SQS
    client; by default one is built from the standard AWS settings.
    """
    result = PollResult()
    queue_url = runtime.settings.feedback_queue_url
    if not queue_url:
        return result
    sqs = client if client is not None else sqs_client(queue_url, wait_seconds)
    oldest = 0.0
    for _ in range(max_batches):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(max_messages, 10)),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        if not messages:
            break
        oldest = max(oldest, oldest_age_seconds(messages, time.time()))
        result.batches += 1
        result.received += len(messages)
        handled = _store_batch(runtime, messages, result)
        _delete(sqs, queue_url, handled, result)
        if len(handled) < len(messages):
            break  # the database is refusing work: let SQS redeliver later
    if result.received:
        log.info("SES feedback: %s", result.summary())
    set_gauge("trialalerts_feedback_oldest_age_seconds", oldest)
    set_gauge("trialalerts_feedback_poll_timestamp_seconds", time.time())
    return result


def oldest_age_seconds(messages: Sequence[dict[str, Any]], now: float) -> float:
    """How long the oldest of `messages` waited in SQS (its SentTimestamp, in ms)."""
    sent = [
        int(m["Attributes"]["SentTimestamp"]) / 1000
        for m in messages
        if str(m.get("Attributes", {}).get("SentTimestamp", "")).isdigit()
    ]
    return max(0.0, now - min(sent)) if sent else 0.0


def sqs_client(queue_url: str, wait_seconds: int = 20) -> Any:
    """An SQS client from the standard AWS settings; the region defaults to the queue's own."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=wait_seconds + 10,  # a long poll holds the response open
    )
    return session.client(
        "sqs", region_name=session.region_name or queue_region(queue_url), config=config
    )


def queue_region(queue_url: str) -> str | None:
    """`https://sqs.eu-west-1.amazonaws.com/…` → `eu-west-1` (None for other hosts)."""
    parts = (urlparse(queue_url).hostname or "").split(".")
    if len(parts) >= 4 and parts[0] == "sqs" and parts[2] == "amazonaws":
        return parts[1]
    return None


def _store_batch(runtime: Runtime, messages: list[dict[str, Any]], result: PollResult) -> list[str]:
    """Store and apply a batch; returns the receipt handles of the messages now kept."""
    items = [(m.get("Body", ""), m["ReceiptHandle"]) for m in messages]
    if store_feedback(runtime, [body for body, _ in items], result):
        return [handle for _, handle in items]
    if len(items) == 1:
        result.failed += 1
        return []
    log.warning("retrying %d SES feedback messages one by one", len(items))
    kept = []
    for body, handle in items:
        if store_feedback(runtime, [body], result):
            kept.append(handle)
        else:
            result.failed += 1
    return kept


def _delete(sqs: Any, queue_url: str, handles: list[str], result: PollResult) -> None:
    """Delete kept messages; a failed delete only means a redelivery, which dedupes."""
    if not handles:
        return
    response = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(handles)],
    )
    result.deleted += len(response.get("Successful", []))
    for failure in response.get("Failed", []):
        log.warning("could not delete SES feedback message: %s", failure.get("Message"))
