"""Row ids as people and forms type them: ASCII digits, within the range a row id can have.

`int()` is too kind for text from outside: it takes "٣" (an Arabic-Indic
three) and a 30-digit number that PostgreSQL's BIGINT then refuses with an
error, not an empty result. Every id that comes in as text is read here.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


def parse_id(text: str | None) -> int | None:
    """The id `text` spells (1 … MAX_ID), or None for anything else."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
