"""CloudEvents in: read files (JSON, JSON array, JSONL), validate against schema/.

Pure apart from reading the stream it is given.  Every input item comes out
as either a valid `StudyEvent` or a `Rejection` that says where (line or
array item), which event (its id when it has one) and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import IO, Any

import fastjsonschema
import orjson

from worker.paths import schema_dir
from worker.studies import summarize

EVENT_SCHEMA = "events/study-event.v1.json"
REMOVED = "gov.clinicaltrials.study.removed"


@dataclass(frozen=True)
class RawItem:
    """One input item before validation: its position and the parsed JSON or the raw text."""

    where: str
    line: int | None
    value: Any = None
    text: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class StudyEvent:
    source: str
    event_id: str
    type: str
    nct_id: str
    time: datetime | None
    last_update: str | None
    raw: str
    summary: dict[str, Any] | None

    @property
    def removed(self) -> bool:
        return self.type == REMOVED


@dataclass(frozen=True)
class Rejection:
    where: str
    line: int | None
    event_id: str | None
    reason: str
    raw: str

    def describe(self) -> str:
        ident = f" event {self.event_id!r}" if self.event_id else ""
        return f"{self.where}{ident}: {self.reason}"


@cache
def _validator() -> Any:
    schema = orjson.loads((schema_dir() / EVENT_SCHEMA).read_bytes())
    return fastjsonschema.compile(schema)


def _raw_text(item: RawItem) -> str:
    if item.text is not None:
        return item.text
    try:
        return orjson.dumps(item.value).decode()
    except TypeError:
        return repr(item.value)


def _parse_time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    parsed = datetime.fromisoformat(raw.replace("z", "Z").replace("t", "T"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def validate(item: RawItem) -> StudyEvent | Rejection:
    """One item → a StudyEvent, or a Rejection with the reason."""
    value = item.value
    event_id = value.get("id") if isinstance(value, dict) else None
    event_id = event_id if isinstance(event_id, str) and event_id else None
    if item.error is not None:
        return Rejection(item.where, item.line, None, item.error, _raw_text(item))
    if not isinstance(value, dict):
        reason = f"expected a JSON object, got {type(value).__name__}"
        return Rejection(item.where, item.line, None, reason, _raw_text(item))
    try:
        _validator()(value)
        data = value.get("data")
        summary = summarize(data) if data is not None else None
        nct_id = summary["nct_id"] if summary else value["subject"].upper()
        subject = value.get("subject")
        if subject and subject.upper() != nct_id:
            raise ValueError(f"subject {subject!r} does not match data nctId {nct_id!r}")
        event = StudyEvent(
            source=value["source"],
            event_id=value["id"],
            type=value["type"],
            nct_id=nct_id,
            time=_parse_time(value.get("time")),
            last_update=summary["last_update"] if summary else None,
            raw=_raw_text(item),
            summary=summary,
        )
    except fastjsonschema.JsonSchemaValueException as error:
        reason = "event" + error.message.removeprefix("data")
        return Rejection(item.where, item.line, event_id, reason, _raw_text(item))
    except ValueError as error:
        return Rejection(item.where, item.line, event_id, str(error), _raw_text(item))
    return event


def parse_line(number: int, text: str) -> RawItem:
    where = f"line {number}"
    try:
        return RawItem(where, number, orjson.loads(text), text)
    except orjson.JSONDecodeError as error:
        return RawItem(where, number, None, text, f"not valid JSON ({error})")


def read_items(stream: IO[bytes]) -> Iterator[RawItem]:
    """JSONL streams line by line; a single JSON document or array is read whole."""
    seen: list[bytes] = []
    number = 0
    for raw in stream:
        number += 1
        seen.append(raw)
        if raw.strip(b" \t\r\n\xef\xbb\xbf"):
            break
    else:
        return
    head = seen[-1].lstrip(b"\xef\xbb\xbf").strip()
    if head.startswith(b"{"):
        try:
            value = orjson.loads(head)
        except orjson.JSONDecodeError:
            value = None  # a pretty-printed document spans several lines
        if value is not None:
            yield RawItem(f"line {number}", number, value, head.decode(errors="replace"))
            for later, raw in enumerate(stream, start=number + 1):
                text = raw.decode("utf-8", errors="replace").strip()
                if text:
                    yield parse_line(later, text)
            return
    yield from _document_items(b"".join(seen) + stream.read())


def _document_items(document: bytes) -> Iterator[RawItem]:
    document = document.lstrip(b"\xef\xbb\xbf")
    try:
        value = orjson.loads(document)
    except orjson.JSONDecodeError as error:
        text = document.decode("utf-8", errors="replace")
        yield RawItem("line 1", 1, None, text, f"not valid JSON ({error})")
        return
    if isinstance(value, list):
        for index, element in enumerate(value, start=1):
            yield RawItem(f"item {index}", None, element)
    else:
        yield RawItem("line 1", 1, value)


def items_of(events: Any) -> Iterator[RawItem]:
    """Python callers pass one event dict or a list of them."""
    if isinstance(events, dict):
        yield RawItem("event 1", None, events)
        return
    for index, event in enumerate(events, start=1):
        yield RawItem(f"event {index}", None, event)
