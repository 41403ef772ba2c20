"""Log lines: one JSON object per line, in one schema for every process we start.

    {"time": "2026-06-28T08:00:01.123+00:00", "level": "info", "process": "worker",
     "pid": 4242, "logger": "worker.queue.pipeline", "message": "sent 12, …",
     "actor": "deliveries.send", "message_id": "…", "delivery_id": 7}

`process` is the Procfile process type (worker, scheduler, poller, web; cli
for one-off commands), so the lines of many processes can share one stream.
Ids a line is about come from `extra=` (delivery_id, event_id, …) or, for
every line written while a queue message is worked, from `bind`.

Nothing personal or secret leaves in a line: an email address becomes a
stable short hash, so one subscriber's lines can still be followed; the token
of a link (/u/…, /u/s/…, /u/all/…, /preferences/…, /confirm/…) is cut,
because whoever holds it can act for the subscriber.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
TOKEN_PATH = re.compile(r"(/(?:u/s|u/all|u|preferences|confirm)/)[^\s/?#\"'<>]+")
CUT = "…"

# Ids and request facts a line may carry, from `extra=` or `bind`; nothing else is copied.
FIELDS = (
    "actor", "message_id", "delivery_id", "event_id", "signup_id", "subscriber_id", "nct_id",
    "job", "method", "path", "status", "duration_ms", "bytes",
)  # fmt: skip

_bound: ContextVar[dict[str, Any]] = ContextVar("log_ids", default={})  # noqa: B039 - never mutated


def email_hash(address: str) -> str:
    return "email:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:12]


def redact(text: str) -> str:
    """Addresses become hashes; link tokens are cut (`/u/TOKEN` → `/u/…`)."""
    text = TOKEN_PATH.sub(lambda found: found.group(1) + CUT, text)
    return EMAIL.sub(lambda found: email_hash(found.group()), text)


def bind(**ids: Any) -> None:
    """Ids for every line this thread writes from now on (none: forget them)."""
    _bound.set(ids)


class JsonLines(logging.Formatter):
    def __init__(self, process: str = "cli") -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "process": self.process,
            "pid": record.process,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        given = vars(record)
        ids = _bound.get() | {name: given[name] for name in FIELDS if name in given}
        for name, value in ids.items():
            line[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(
    process: str = "cli", level: int = logging.INFO, stream: IO[str] | None = None
) -> None:
    """JSON lines on `stream` (stderr as it is now) for the whole process.

    httpx logs every request at info: the poller's pages would drown the rest.
    An uncaught exception is a line too, not a bare traceback.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines(process))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    logging.getLogger("uncaught").critical("%s", error, exc_info=(kind, error, trace))
