"""Values quoted in error messages: short, one line, and named by their JSON type."""

from __future__ import annotations

import json
import re

_JSON_TYPES = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
# Control characters a terminal would act on (escape sequences, carriage return,
# C1 controls) and the bidi controls that reorder what is shown; tab and
# newline are layout and stay.
_TERMINAL_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_safe(text: str) -> str:
    """`text` with every character a terminal would act on shown as an escape (\\x1b, \\u202e)."""
    return _TERMINAL_UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def show_value(value: object, limit: int = 40) -> str:
    """A value quoted for an error message, cut short so a reason stays one line."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def json_type(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPES.get(type(value), "an object")
