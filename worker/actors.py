"""Thin dramatiq actors, named noun.verb: decode ids, call one service function."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq import Broker

from worker import pipeline


def ingest_events(event_pks: list[int]) -> None:
    pipeline.ingest_batch(event_pks)


# name → (function, queue, max_retries)
ACTORS: dict[str, tuple[Callable[..., None], str, int]] = {
    "events.ingest": (ingest_events, "ingest", 5),
}


def declare(broker: Broker) -> None:
    for name, (fn, queue, retries) in ACTORS.items():
        if name not in broker.actors:
            dramatiq.actor(
                fn,
                actor_name=name,
                queue_name=queue,
                broker=broker,
                max_retries=retries,
                min_backoff=1000,
                max_backoff=60_000,
            )
