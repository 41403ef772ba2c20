"""Dead letters: rejected input kept with its raw payload and the reason."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from worker.core.models import DeadLetter
from worker.core.sql import insert_ignoring_conflicts, storable_text

# Said in the reason of a letter whose NUL characters are kept as U+FFFD.
NUL_KEPT = "its NUL characters, which the database cannot store, are kept as U+FFFD"


def dead_letter(
    origin: str, line: int | None, event_id: Any, reason: str, payload: Any, now: datetime
) -> dict[str, Any]:
    """A dead_letters row; `payload` is kept byte for byte when it is text.

    But for NUL, which PostgreSQL text cannot hold: it is kept as U+FFFD, and
    the reason says so (see `altered`).
    """
    if not isinstance(payload, str):
        try:
            payload = orjson.dumps(payload).decode()
        except TypeError:
            payload = repr(payload)
    if "\x00" in payload:
        reason = f"{reason} ({NUL_KEPT})"
    return {
        "origin": storable_text(origin[:200]),
        "line": line,
        "event_id": storable_text(event_id[:500]) if isinstance(event_id, str) else None,
        "reason": storable_text(reason),
        "payload": storable_text(payload),
        "fingerprint": hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest(),
        "created_at": now,
        "replayed_at": None,
    }


def altered(letter: DeadLetter) -> bool:
    """Whether the letter still holds the U+FFFD its NUL was kept as (not fixed since).

    A U+FFFD in a JSON string is valid where a raw NUL was not: replayed as it
    is, the letter would publish a line upstream never sent.
    """
    return NUL_KEPT in letter.reason and "\ufffd" in letter.payload


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
