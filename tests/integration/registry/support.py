"""Shared by the poller tests: the fake registry with real records, and what subscribers got."""

from __future__ import annotations

import email
from dataclasses import replace
from email.message import Message
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.support import record
from worker.bench.fake_ctgov import FakeCtgov, variant
from worker.core.models import ReceivedEvent
from worker.core.runtime import Runtime

# Real records under their own ids and real post dates (the field-limited
# NCT02576665 has no post date: only a fetch by id returns it).
REAL = ("NCT00973089", "NCT02210780", "NCT03475563", "NCT04267848", "NCT06171568")
SINCE = "2015-01-01"
# Settings that keep the suite fast: no pacing to speak of, tiny backoff.
FAST = {"max_rps": 1000.0, "backoff_seconds": 0.01, "retries": 10, "page_size": 2}


def real_studies() -> list[dict[str, Any]]:
    """The real records, plus variants of one of them on other days."""
    base = record("NCT06171568")
    extra = [variant(base, f"NCT0900000{n}", f"2024-0{n}-15") for n in range(1, 4)]
    return [record(name) for name in REAL] + extra


def point_at(runtime: Runtime, fake: FakeCtgov, **ctgov: Any) -> Runtime:
    """The runtime's poller settings aimed at the fake registry."""
    settings = replace(runtime.settings.ctgov, api_url=fake.url, **(FAST | ctgov))
    runtime.settings = replace(runtime.settings, ctgov=settings)
    return runtime


def env_for(fake: FakeCtgov, database_url: str, **extra: str) -> dict[str, str]:
    """The same settings as environment variables, for `trialalerts` subprocesses."""
    names = {"max_rps": "MAX_RPS", "backoff_seconds": "BACKOFF_SECONDS", "retries": "RETRIES",
             "page_size": "PAGE_SIZE"}  # fmt: skip
    env = {f"TRIALALERTS_CTGOV_{names[key]}": str(value) for key, value in FAST.items()}
    return env | {"TRIALALERTS_CTGOV_API_URL": fake.url, "TRIALALERTS_DATABASE_URL": database_url,
                  "TRIALALERTS_SECRET_KEY": "test-secret-key-0123456789abcdef"} | extra  # fmt: skip


def event_counts(runtime: Runtime) -> dict[str, int]:
    """NCT id → how many events of it are stored."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(ReceivedEvent.nct_id, func.count()).group_by(ReceivedEvent.nct_id)
        )
        return {nct_id: number for nct_id, number in rows}


def outbox(folder: Path) -> dict[str, list[str]]:
    """Recipient → the text bodies of the emails they got."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("delivery-*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        found.setdefault(message["To"], []).append(_text(message))
    return found


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    return ""
