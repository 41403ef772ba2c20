"""Thin dramatiq actors, named noun.verb: decode ids, call one service function."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq import Broker

from worker.core.runtime import get_runtime
from worker.queue import pipeline
from worker.queue.broker import QUEUES, use
from worker.sending.loop import SendingHeld
from worker.subscriptions import uploads


def ingest_events(event_pks: list[int]) -> None:
    pipeline.ingest_batch(event_pks)


def match_changes(event_pks: list[int]) -> None:
    pipeline.match_batch(event_pks)


def build_digests(delivery_ids: list[int]) -> None:
    pipeline.build_batch(delivery_ids)


def send_deliveries(delivery_ids: list[int]) -> None:
    pipeline.send_batch(delivery_ids)


def poll_feedback() -> None:
    pipeline.poll_feedback_queue()


def mail_signups(signup_ids: list[int]) -> None:
    pipeline.mail_signups(signup_ids)


def run_imports(import_ids: list[int]) -> None:
    for import_id in import_ids:
        uploads.run_import(get_runtime(), import_id)


# name → (function, max_retries); each one's queue is in worker.queue.broker.QUEUES.
ACTORS: dict[str, tuple[Callable[..., None], int]] = {
    "events.ingest": (ingest_events, 5),
    "changes.match": (match_changes, 5),
    "digests.build": (build_digests, 5),
    "deliveries.send": (send_deliveries, 5),
    # No retries: the next tick polls again, and nothing unstored is deleted from SQS.
    "feedback.poll": (poll_feedback, 0),
    "signups.mail": (mail_signups, 5),
    # No retries: a failure is kept on the import's row, and the admin applies it again.
    "imports.run": (run_imports, 0),
}


# Not failures: the deliveries wait in the database until sending may resume.
THROWS: dict[str, tuple[type[Exception], ...]] = {"deliveries.send": (SendingHeld,)}

# Milliseconds before dramatiq interrupts a message (its default: 10 minutes). An import
# takes as long as its file (up to TRIALALERTS_ADMIN_UPLOAD_MB); a dry run cut short would
# only start over when the reconciler wakes it, and fail the same way.
TIME_LIMITS: dict[str, float] = {"imports.run": float("inf")}
DEFAULT_TIME_LIMIT = 600_000


def install(broker: Broker) -> Broker:
    """Make `broker` the process's broker and declare every actor on it."""
    use(broker)
    declare(broker)
    return broker


def declare(broker: Broker) -> None:
    for name, (fn, retries) in ACTORS.items():
        if name not in broker.actors:
            dramatiq.actor(
                fn,
                throws=THROWS.get(name, ()),
                time_limit=TIME_LIMITS.get(name, DEFAULT_TIME_LIMIT),
                actor_name=name,
                queue_name=QUEUES[name],
                broker=broker,
                max_retries=retries,
                min_backoff=1000,
                max_backoff=60_000,
            )
