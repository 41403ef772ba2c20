"""Structured log lines (one JSON object per line) with no email addresses in them.

An address is replaced by a stable short hash, so one subscriber's lines can
still be followed without the logs holding personal data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def email_hash(address: str) -> str:
    return "email:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:12]


def redact(text: str) -> str:
    return EMAIL.sub(lambda found: email_hash(found.group()), text)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class RedactEmails(logging.Filter):
    """For handlers we don't format ourselves (dramatiq's): scrub the message in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr for our own processes."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def redact_existing_handlers() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactEmails())
