"""CloudEvents binary content mode: the attributes in `ce-*` headers, the data in the body.

The CloudEvents HTTP binding puts each attribute in a header of its own
(`ce-id: evt-1`, the value percent-encoded UTF-8) and the data, as it is,
in the body, typed by Content-Type (JSON when there is none: the SDK's
1.x `to_binary` sends none). Here such a request becomes the
structured event it stands for, so that both modes meet the same
validation, dedupe and dead letters downstream.

Two kinds of trouble, answered differently:
- the request cannot be read as one binary-mode message (an oversized or
  non-ASCII header, a header that is no attribute, data that is not JSON by
  its Content-Type, a whole structured event as the data): `Refused`, a 4xx
  naming it, and nothing is stored;
- it reads as an event, but not a valid one (no `ce-type`, a body that does
  not parse): the item carries the reason and is dead-lettered, like an
  invalid structured event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import orjson

from worker.ingest.events import RawItem

PREFIX = "ce-"
REQUIRED = ("specversion", "id", "source", "type")
MAX_HEADER_CHARS = 4096
MAX_ATTRIBUTES = 50
ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}")  # CloudEvents 1.0, "Attribute Naming Convention"
WHERE = "event 0"


class Refused(Exception):
    """The request is not a readable CloudEvents HTTP message: `status` and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def attribute_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's `ce-*` headers as (lower-cased name, value)."""
    return [(name.lower(), value) for name, value in headers if name.lower().startswith(PREFIX)]


def is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def binary_item(ce_headers: list[tuple[str, str]], mimetype: str, body: bytes) -> RawItem:
    """The event a binary-mode request carries; raises `Refused` (see the module's docstring)."""
    if len(ce_headers) > MAX_ATTRIBUTES:
        raise Refused(431, f"{len(ce_headers)} ce-* headers; at most {MAX_ATTRIBUTES}")
    event: dict[str, Any] = {name[len(PREFIX) :]: _value(name, value) for name, value in ce_headers}
    missing = [PREFIX + name for name in REQUIRED if name not in event]
    if body.strip():
        if mimetype and not is_json(mimetype):
            raise Refused(
                415,
                f"binary mode: the body is the study as application/json, "
                f"not Content-Type {mimetype!r} (no body: a removal)",
            )
        event["datacontenttype"] = mimetype or "application/json"  # 1.x SDKs send none
        try:
            event["data"] = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            text = orjson.dumps({**event, "data": body.decode("utf-8", "replace")}).decode()
            return RawItem(WHERE, None, event, text, f"binary mode: the body is not JSON ({error})")
        if isinstance(event["data"], dict) and "specversion" in event["data"]:
            raise Refused(
                400,
                "the body is a whole structured event, but ce-* headers say binary mode: "
                "send it as application/cloudevents+json without ce-* headers",
            )
    if missing:
        return RawItem(WHERE, None, event, None, f"binary mode: no {', '.join(missing)} header")
    return RawItem(WHERE, None, event)


def _value(header: str, value: str) -> str:
    """One attribute from its header: checked, then percent-decoded."""
    name = header[len(PREFIX) :]
    if len(value) > MAX_HEADER_CHARS:
        raise Refused(
            431, f"header {header} is {len(value)} characters; at most {MAX_HEADER_CHARS}"
        )
    if not ATTRIBUTE_NAME.fullmatch(name):
        raise Refused(
            400, f"header {header}: attribute names are 1 to 20 lower-case letters and digits"
        )
    if name in ("data", "datacontenttype"):
        raise Refused(
            400, f"header {header}: in binary mode the data is the body, typed by Content-Type"
        )
    if not value.isascii():
        raise Refused(400, f"header {header} holds non-ASCII bytes: percent-encode them as UTF-8")
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise Refused(400, f"header {header} is not percent-encoded UTF-8") from None
