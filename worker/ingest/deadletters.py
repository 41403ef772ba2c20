"""Dead letters: rejected input kept with its raw payload and the reason."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from worker.core.models import DeadLetter
from worker.core.sql import insert_ignoring_conflicts


def dead_letter(
    origin: str, line: int | None, event_id: Any, reason: str, payload: Any, now: datetime
) -> dict[str, Any]:
    """A dead_letters row; `payload` is kept byte for byte when it is text."""
    if not isinstance(payload, str):
        try:
            payload = orjson.dumps(payload).decode()
        except TypeError:
            payload = repr(payload)
    return {
        "origin": origin[:200],
        "line": line,
        "event_id": event_id[:500] if isinstance(event_id, str) else None,
        "reason": reason,
        "payload": payload,
        "fingerprint": hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest(),
        "created_at": now,
        "replayed_at": None,
    }


def store_dead_letters(session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep each distinct payload once: publishing the same bad file twice adds nothing."""
    insert_ignoring_conflicts(session, DeadLetter.__table__, rows)


def list_dead_letters(
    session: Session, include_replayed: bool = False, letter_id: int | None = None
) -> list[DeadLetter]:
    """Every letter (not replayed ones only, unless asked), or just the one `letter_id`."""
    query = select(DeadLetter).order_by(DeadLetter.id)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    if letter_id is not None:
        query = query.where(DeadLetter.id == letter_id)
    return list(session.scalars(query))


def dead_letter_page(
    session: Session, after: int | None, size: int, include_replayed: bool = False
) -> list[DeadLetter]:
    """Up to `size` dead letters after id `after`, oldest first: keyset pages for the console.

    Without their payloads (deferred): a page lists reasons, and a payload may be 10 MB.
    """
    query = select(DeadLetter).options(defer(DeadLetter.payload)).order_by(DeadLetter.id)
    query = query.limit(size)
    if after is not None:
        query = query.where(DeadLetter.id > after)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return list(session.scalars(query))
