"""Values quoted in error messages: short, one line, and named by their JSON type."""

from __future__ import annotations

import json

_JSON_TYPES = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


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
