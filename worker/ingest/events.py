"""CloudEvents in: read files (JSON, JSON array, JSONL), validate against schema/.

Pure apart from reading the stream it is given.  Every input item comes out
as either a valid `StudyEvent` or a `Rejection` that says where (line or
array item), which event (its id when it has one) and why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import IO, Any

import fastjsonschema
import orjson

from worker.core.paths import schema_dir
from worker.core.sql import storable_text
from worker.ingest.lean import lean_event
from worker.ingest.schema_rules import meets_schema
from worker.ingest.studies import summarize

EVENT_SCHEMA = "events/study-event.v1.json"
REMOVED = "gov.clinicaltrials.study.removed"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawItem:
    """One input item before validation: its position and the parsed JSON or the raw text.

    `lean`: `value` holds only the members that validation and the summary
    read (worker/ingest/lean.py); `validate` parses `text` whole when it
    does not accept the event, so a rejection reads as it always has.
    """

    where: str
    line: int | None
    value: Any = None
    text: str | None = None
    error: str | None = None
    lean: bool = False
    encoded: bytes | None = field(default=None, repr=False)  # `text` as received, in UTF-8


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
    # `raw` as received, in UTF-8, when it was (a JSONL line): stored as it is.  The same
    # text as `raw`, so neither shown nor compared.
    encoded: bytes | None = field(default=None, repr=False, compare=False)

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
    """The event's `time` in UTC; ValueError for one that is not a date-time or leaves the calendar.

    9999-12-31T23:59:59-01:00 is a valid RFC 3339 string whose UTC instant
    lies past year 9999: Python cannot hold it, so the event is rejected.
    """
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("z", "Z").replace("t", "T"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"time {raw[:40]!r} is outside the calendar in UTC") from None


def validate(item: RawItem) -> StudyEvent | Rejection:
    """One item → a StudyEvent, or a Rejection with the reason."""
    if item.lean:
        try:
            if meets_schema(item.value, sites_typed=True):
                return _study_event(item, item.value)
        except Exception:  # noqa: BLE001 - the whole parse below says why
            pass
        assert item.line is not None and item.text is not None
        item = parse_line(item.line, item.text)
    value = item.value
    event_id = value.get("id") if isinstance(value, dict) else None
    event_id = event_id if isinstance(event_id, str) and event_id else None
    if item.error is not None:
        return Rejection(item.where, item.line, None, item.error, _raw_text(item))
    if not isinstance(value, dict):
        reason = f"expected a JSON object, got {type(value).__name__}"
        return Rejection(item.where, item.line, None, reason, _raw_text(item))
    try:
        if not meets_schema(value):
            _validator()(value)  # raises, saying why (or accepts what meets_schema left to it)
        return _study_event(item, value)
    except fastjsonschema.JsonSchemaValueException as error:
        reason = "event" + error.message.removeprefix("data")
        return Rejection(item.where, item.line, event_id, reason, _raw_text(item))
    except ValueError as error:
        return Rejection(item.where, item.line, event_id, str(error), _raw_text(item))
    except Exception as error:  # noqa: BLE001 - one odd event must not sink its batch
        log.exception("%s: event could not be read", item.where, extra={"event_id": event_id})
        reason = f"event could not be read ({type(error).__name__})"
        return Rejection(item.where, item.line, event_id, reason, _raw_text(item))


def _study_event(item: RawItem, value: dict[str, Any]) -> StudyEvent:
    """The event of a value that meets the schema; ValueError for what the schema cannot say."""
    for name in ("id", "source", "type"):
        if "\x00" in value[name]:
            raise ValueError(
                f"event {name} holds a NUL character (\\u0000), which no column stores"
            )
    data = value.get("data")
    summary = summarize(data) if data is not None else None
    if summary is not None and _holds_nul(item, summary):
        summary = without_nul(summary)  # every later stage stores or prints it: U+FFFD
    nct_id = summary["nct_id"] if summary else value["subject"].upper()
    subject = value.get("subject")
    if subject and subject.upper() != nct_id:
        raise ValueError(f"subject {subject!r} does not match data nctId {nct_id!r}")
    return StudyEvent(
        source=value["source"],
        event_id=value["id"],
        type=value["type"],
        nct_id=nct_id,
        time=_parse_time(value.get("time")),
        last_update=summary["last_update"] if summary else None,
        raw=_raw_text(item),
        summary=summary,
        encoded=item.encoded,
    )


def _holds_nul(item: RawItem, summary: dict[str, Any]) -> bool:
    """Whether the summary may hold a NUL: valid JSON text writes one only as an escape."""
    if item.text is not None:
        return "\\u0000" in item.text
    return b"\\u0000" in orjson.dumps(summary)


def without_nul(value: Any) -> Any:
    """`value` with every NUL of its strings as U+FFFD (PostgreSQL text cannot hold NUL)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {without_nul(key): without_nul(member) for key, member in value.items()}
    if isinstance(value, list):
        return [without_nul(member) for member in value]
    return value


def parse_line(number: int, text: str) -> RawItem:
    where = f"line {number}"
    try:
        return RawItem(where, number, orjson.loads(text), text)
    except orjson.JSONDecodeError as error:
        return RawItem(where, number, None, text, f"not valid JSON ({error})")


def read_items(stream: IO[bytes]) -> Iterator[RawItem]:
    """One JSON event, a JSON array, or JSONL.

    When the first line is JSON by itself the file is JSONL and streams line
    by line (a lone array on one line is read as an array).  Otherwise the
    file is one document, read whole; if that does not parse either, it is
    read line by line after all, so each bad line is reported where it is.
    """
    lines = _lines(stream)
    first = next(lines, None)
    if first is None:
        return
    number, head = first
    try:
        value = orjson.loads(head)
    except orjson.JSONDecodeError:
        yield from _document_items([first, *lines])
        return
    second = next(lines, None)
    if second is None and isinstance(value, list):
        yield from _array_items(value)
        return
    yield RawItem(f"line {number}", number, value, head.decode(errors="replace"))
    if second is not None:
        yield _line_item(*second)
    for later, raw in lines:
        yield _line_item(later, raw)


def _line_item(number: int, raw: bytes) -> RawItem:
    """A JSONL line after the first, parsed lean where it can be (worker/ingest/lean.py)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return parse_line(number, raw.decode(errors="replace"))
    value = lean_event(raw)
    if value is None:
        return parse_line(number, text)
    return RawItem(f"line {number}", number, value, text, lean=True, encoded=raw)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, stripped bytes) of every non-blank line; a leading BOM is dropped."""
    for number, raw in enumerate(stream, start=1):
        text = raw.lstrip(b"\xef\xbb\xbf").strip() if number == 1 else raw.strip()
        if text:
            yield number, text


def _document_items(lines: list[tuple[int, bytes]]) -> Iterator[RawItem]:
    try:
        value = orjson.loads(b"\n".join(text for _, text in lines))
    except orjson.JSONDecodeError:
        for number, text in lines:
            yield parse_line(number, text.decode("utf-8", errors="replace"))
        return
    if isinstance(value, list):
        yield from _array_items(value)
    else:
        yield RawItem(f"line {lines[0][0]}", lines[0][0], value)


def _array_items(values: list[Any]) -> Iterator[RawItem]:
    for index, element in enumerate(values, start=1):
        yield RawItem(f"item {index}", None, element)


def items_of(events: Any) -> Iterator[RawItem]:
    """Python callers pass one event dict or a list of them."""
    if isinstance(events, dict):
        yield RawItem("event 1", None, events)
        return
    for index, event in enumerate(events, start=1):
        yield RawItem(f"event {index}", None, event)
