"""Thin dramatiq actors, named noun.verb: decode ids, call one service function."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq import Broker

from worker import pipeline
from worker.sending import SendingHeld


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


# name → (function, queue, max_retries)
ACTORS: dict[str, tuple[Callable[..., None], str, int]] = {
    "events.ingest": (ingest_events, "ingest", 5),
    "changes.match": (match_changes, "match", 5),
    "digests.build": (build_digests, "digests", 5),
    "deliveries.send": (send_deliveries, "send", 5),
    # No retries: the next tick polls again, and nothing unstored is deleted from SQS.
    "feedback.poll": (poll_feedback, "feedback", 0),
}


# Not failures: the deliveries wait in the database until sending may resume.
THROWS: dict[str, tuple[type[Exception], ...]] = {"deliveries.send": (SendingHeld,)}


def declare(broker: Broker) -> None:
    for name, (fn, queue, retries) in ACTORS.items():
        if name not in broker.actors:
            dramatiq.actor(
                fn,
                throws=THROWS.get(name, ()),
                actor_name=name,
                queue_name=queue,
                broker=broker,
                max_retries=retries,
                min_backoff=1000,
                max_backoff=60_000,
            )
