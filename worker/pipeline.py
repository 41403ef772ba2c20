"""Service functions behind actors, CLI and web: one transaction, then the wake-ups.

Follow-up messages are sent only after the transaction that created their
work has committed, so a message never points at a row that isn't there.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from worker.broker import enqueue
from worker.deadletters import list_dead_letters
from worker.events import items_of, read_items
from worker.ingest import IngestResult, ingest_events
from worker.publish import PublishReport, publish_items, replay_dead_letters
from worker.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)


def _wake_ingest(runtime: Runtime) -> Any:
    return lambda ids: enqueue(runtime.settings, "events.ingest", ids)


def publish(events: Any, origin: str = "python", runtime: Runtime | None = None) -> PublishReport:
    """`worker.publish(event_or_events)`: one CloudEvent dict or an iterable of them."""
    runtime = runtime or get_runtime()
    return publish_items(
        runtime.sessions,
        items_of(events),
        origin,
        runtime.now,
        _wake_ingest(runtime),
        runtime.settings.ingest_batch_size,
    )


def publish_stream(stream: IO[bytes], origin: str, runtime: Runtime | None = None) -> PublishReport:
    """A file or stdin: one JSON event, a JSON array, or JSONL."""
    runtime = runtime or get_runtime()
    return publish_items(
        runtime.sessions,
        read_items(stream),
        origin,
        runtime.now,
        _wake_ingest(runtime),
        runtime.settings.ingest_batch_size,
    )


def ingest_batch(event_pks: list[int], runtime: Runtime | None = None) -> IngestResult:
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        result = ingest_events(session, event_pks, runtime.now())
    log.info(
        "ingested %d events: %s, %d changes", len(event_pks), result.outcomes, result.change_count
    )
    return result


def replay(
    letter_id: int | None = None, runtime: Runtime | None = None
) -> tuple[int, list[tuple[int, str]]]:
    """Re-publish dead letters (all not yet replayed, or one); returns (accepted, still bad)."""
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        letters = list_dead_letters(session)
        if letter_id is not None:
            letters = [letter for letter in letters if letter.id == letter_id]
        new_ids, still_bad = replay_dead_letters(session, letters, runtime.now())
    if new_ids:
        _wake_ingest(runtime)(new_ids)
    return len(letters) - len(still_bad), still_bad
