"""Subscription files: streaming CSV/JSONL admin imports, and exports.

Reading never loads a file whole: rows are yielded as they are parsed, each
with the 1-based physical line it starts on, so a report can point an admin
at the exact line. Every row goes through `parse_row`; exports write the same
normal form back so that export -> import is an exact round trip.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from worker.subscriptions.places import Near, format_near
from worker.subscriptions.rows import (
    FIELDS,
    REQUIRED_COLUMNS,
    SubscriptionRow,
    json_type,
    parse_row,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# A subscription row is well under 1 KB; a longer line is refused, never held whole.
MAX_LINE_BYTES = 64 * 1024
# A spreadsheet runs a cell starting with one of these as a formula. Exported
# CSV cells starting with one (or with the quote itself) get a leading quote,
# which the import strips again, so the round trip holds.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


@dataclass(frozen=True)
class RowError:
    """A rejected row: the 1-based physical line it starts on, and why."""

    line: int
    reason: str


class ImportFileError(Exception):
    """The file as a whole cannot be read; the message names the file (and line)."""


def read_subscription_file(path: Path) -> Iterator[tuple[int, SubscriptionRow | RowError]]:
    """Stream (line, row or error) pairs from a .csv, .jsonl or .ndjson file.

    An unknown extension raises ImportFileError at once; an unreadable file or
    CSV header raises it on the first iteration. CSV is strict about its
    header (names case-insensitive and trimmed): an unknown or repeated column
    is an ImportFileError, because a misspelt "frequncy" column would
    otherwise silently give every row the default; so is a missing email or
    kind column. In JSONL an unknown key rejects only its row. Empty CSV cells
    mean "not given". Blank lines are skipped but still counted.

    Duplicate rows are all yielded (the caller dedupes by identity), except
    that a repeat with another frequency, or an email seen earlier with
    another timezone, is a RowError naming the earlier line: one file must say
    one thing about a subscription and a subscriber.
    """
    fmt = subscription_file_format(path)
    return _from_path(path, fmt)


def read_subscription_stream(
    raw: BinaryIO, fmt: str, name: str
) -> Iterator[tuple[int, SubscriptionRow | RowError]]:
    """`read_subscription_file` for bytes already open (an upload): `name` stands in messages.

    The caller keeps `raw` open while iterating and closes it after.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown import format {fmt!r}; expected csv or jsonl")
    rows = _read_csv(raw, name) if fmt == "csv" else _read_jsonl(raw)
    return _consistent(rows)


def _from_path(path: Path, fmt: str) -> Iterator[tuple[int, SubscriptionRow | RowError]]:
    with _open(path) as raw:
        yield from read_subscription_stream(raw, fmt, str(path))


def subscription_file_format(path: Path) -> str:
    """The format ("csv" or "jsonl") a file's extension names."""
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImportFileError(
            f"{path}: unknown file type {path.suffix!r}; expected .csv, .jsonl or .ndjson"
        )
    return fmt


def write_subscription_file(rows: Iterable[SubscriptionRow], out: TextIO, fmt: str) -> int:
    """Write rows as "csv" (header first) or "jsonl"; return how many were written.

    Lists are ";"-joined and near is "lat,lon,km" with repr-exact floats, or
    "PLACE;KM" when it was given as a place, so reading the output back gives
    equal rows. JSONL holds every key, with null for absent values, arrays for
    lists and an object for near (or its "PLACE;KM" text).
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}; expected csv or jsonl")
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow([_formula_safe(cell) for cell in _csv_cells(row)])
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(_json_object(row), ensure_ascii=False) + "\n")
            count += 1
    return count


def _place_text(row: SubscriptionRow) -> str | None:
    """`PLACE;KM` for a near given as a place, as it was written; None otherwise."""
    if row.near is None or row.near_place is None:
        return None
    return format_near(Near(*row.near, place=row.near_place))


def _csv_cells(row: SubscriptionRow) -> list[str]:
    near = ",".join(repr(float(value)) for value in row.near) if row.near else ""
    return [
        row.email,
        row.kind,
        row.condition or "",
        row.nct_id or "",
        row.frequency,
        ";".join(row.statuses),
        ";".join(row.countries),
        _place_text(row) or near,
        row.timezone,
        "" if row.age is None else str(row.age),
        row.sex or "",
        "true" if row.healthy_volunteers else "",
        ";".join(row.phases),
        ";".join(row.study_types),
    ]


def _formula_safe(cell: str) -> str:
    """The cell as a spreadsheet shows it, never as a formula it would run."""
    return _QUOTE + cell if cell.startswith((*FORMULA_STARTS, _QUOTE)) else cell


def _unquoted(cell: str) -> str:
    """Undo `_formula_safe` on an imported cell."""
    if cell.startswith(_QUOTE) and cell[1:].startswith((*FORMULA_STARTS, _QUOTE)):
        return cell[1:]
    return cell


def _json_object(row: SubscriptionRow) -> dict[str, object]:
    near: object = dict(zip(("lat", "lon", "km"), row.near, strict=True)) if row.near else None
    return {
        "email": row.email,
        "kind": row.kind,
        "condition": row.condition,
        "nct_id": row.nct_id,
        "frequency": row.frequency,
        "statuses": list(row.statuses),
        "countries": list(row.countries),
        "near": _place_text(row) or near,
        "timezone": row.timezone,
        "age": row.age,
        "sex": row.sex,
        "healthy_volunteers": row.healthy_volunteers,
        "phases": list(row.phases),
        "study_types": list(row.study_types),
    }


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _decoded_lines(raw: BinaryIO, bad_lines: list[tuple[int, str]]) -> Iterator[str]:
    """UTF-8 lines (split on \\n only); a bad line is recorded with its reason, not fatal.

    A line longer than MAX_LINE_BYTES is read past in pieces and stands as an
    empty line, so a file without newlines cannot fill the memory.
    """
    number = 0
    while data := raw.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
            while (rest := raw.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            bad_lines.append((number, f"line longer than {MAX_LINE_BYTES:,} bytes"))
            yield "\n"
            continue
        if number == 1:
            data = data.removeprefix(codecs.BOM_UTF8)
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.append((number, "not valid UTF-8 text"))
            yield data.decode("utf-8", errors="replace")


def _read_csv(raw: BinaryIO, name: str) -> Iterator[tuple[int, SubscriptionRow | RowError]]:
    bad_lines: list[tuple[int, str]] = []
    reader = csv.reader(_decoded_lines(raw, bad_lines), strict=True)
    records = _csv_records(reader)
    columns = _read_header(name, records, bad_lines)
    for start, cells in records:
        if isinstance(cells, str):
            yield start, RowError(start, cells)
        elif bad_lines and bad_lines[-1][0] >= start:
            yield start, RowError(start, bad_lines[-1][1])
        elif _blank(cells):
            continue
        elif len(cells) != len(columns):
            reason = f"{len(cells)} fields but the header has {len(columns)} columns"
            yield start, RowError(start, reason)
        else:
            fields = dict(zip(columns, map(_unquoted, cells), strict=True))
            yield start, _parsed(start, fields)


def _csv_records(reader: CsvReader) -> Iterator[tuple[int, list[str] | str]]:
    """(line the record starts on, its cells or why it is malformed)."""
    end = 0
    while True:
        start = end + 1
        cells: list[str] | str
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells = f"malformed CSV: {exc}"
        end = reader.line_num
        yield start, cells


def _read_header(
    name: str, records: Iterator[tuple[int, list[str] | str]], bad_lines: list[tuple[int, str]]
) -> tuple[str, ...]:
    for start, cells in records:
        if isinstance(cells, str):
            raise ImportFileError(f"{name}, line {start}: unreadable header: {cells}")
        if _blank(cells):
            continue
        if bad_lines:
            raise ImportFileError(f"{name}, line {start}: header: {bad_lines[-1][1]}")
        columns = tuple(cell.strip().lower() for cell in cells)
        where = f"{name}, line {start}"
        unknown = [name for name in columns if name not in FIELDS]
        if unknown:
            raise ImportFileError(
                f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(FIELDS)}"
            )
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise ImportFileError(f"{where}: column(s) {', '.join(repeated)} given twice")
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ImportFileError(f"{where}: missing required column(s) {', '.join(missing)}")
        return columns
    raise ImportFileError(f"{name}: no header line; expected columns such as email,kind,...")


def _read_jsonl(raw: BinaryIO) -> Iterator[tuple[int, SubscriptionRow | RowError]]:
    bad_lines: list[tuple[int, str]] = []
    for number, text in enumerate(_decoded_lines(raw, bad_lines), start=1):
        if bad_lines and bad_lines[-1][0] == number:
            yield number, RowError(number, bad_lines[-1][1])
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text, object_pairs_hook=_unique_keys)
        except (ValueError, RecursionError) as exc:
            yield number, RowError(number, f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            reason = f"expected a JSON object, got {json_type(value)}"
            yield number, RowError(number, reason)
            continue
        yield number, _parsed(number, value)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a key is repeated in one object")
    return result


def _parsed(line: int, fields: Mapping[str, object]) -> SubscriptionRow | RowError:
    try:
        return parse_row(fields)
    except ValueError as exc:
        return RowError(line, str(exc))


def _blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def _consistent(
    rows: Iterator[tuple[int, SubscriptionRow | RowError]],
) -> Iterator[tuple[int, SubscriptionRow | RowError]]:
    """Reject a row contradicting an earlier one: one frequency, one timezone."""
    zones: dict[str, tuple[int, str]] = {}
    frequencies: dict[bytes, tuple[int, str]] = {}
    for line, row in rows:
        if isinstance(row, RowError):
            yield line, row
            continue
        zone_line, zone = zones.setdefault(row.email, (line, row.timezone))
        if zone != row.timezone:
            reason = (
                f"timezone {row.timezone!r} differs from {zone!r} on line {zone_line} "
                f"for {row.email}: a subscriber has one timezone"
            )
            yield line, RowError(line, reason)
            continue
        identity = _digest(row.identity())
        seen_line, frequency = frequencies.setdefault(identity, (line, row.frequency))
        if frequency != row.frequency:
            reason = (
                f"same subscription as line {seen_line} but frequency {row.frequency!r} "
                f"instead of {frequency!r}; keep one of the two lines"
            )
            yield line, RowError(line, reason)
            continue
        yield line, row


def _digest(identity: tuple[object, ...]) -> bytes:
    """16 bytes standing for an identity, so remembering 100k rows stays small."""
    return hashlib.blake2b(repr(identity).encode(), digest_size=16).digest()
