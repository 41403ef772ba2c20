"""A JSONL line parsed lean gives what the whole parse gives: the same event, the same rejection."""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import event, real_record_names, record
from worker.ingest.events import RawItem, StudyEvent, parse_line, read_items, validate
from worker.ingest.lean import lean_event


def _second_line(line: bytes) -> RawItem:
    """The item of `line` read as the second line of a JSONL stream (the first is parsed whole)."""
    return list(read_items(io.BytesIO(b"{}\n" + line)))[1]


def _whole(line: bytes) -> RawItem:
    return parse_line(2, line.decode("utf-8", errors="replace"))


@pytest.mark.parametrize("name", real_record_names())
def test_every_real_record_is_read_lean_into_the_same_event(name: str) -> None:
    line = json.dumps(event(record(name), "e1"), ensure_ascii=False).encode()
    item = _second_line(line)
    assert item.lean
    result = validate(item)
    assert isinstance(result, StudyEvent)
    assert repr(result) == repr(validate(_whole(line)))
    assert result.encoded == line and result.raw == line.decode()


@pytest.mark.parametrize("name", real_record_names())
def test_a_record_with_browse_leaves_only_is_read_lean_into_the_same_event(name: str) -> None:
    """Older captures have no meshes and ancestors: the summary reads the browse leaves."""
    data = record(name)
    browse = data.get("derivedSection", {}).get("conditionBrowseModule", {})
    browse.pop("meshes", None), browse.pop("ancestors", None)
    line = json.dumps(event(data, "e1")).encode()
    item = _second_line(line)
    assert item.lean
    assert repr(validate(item)) == repr(validate(_whole(line)))


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1e400", "not valid JSON (number is infinity"),
        ("-1E+0400", "not valid JSON (number is infinity"),
        ("1" + "0" * 400, "not valid JSON (number is infinity"),
        ("1" + "0" * 300 + "e9", "not valid JSON (number is infinity"),
    ],
)
def test_a_number_out_of_range_where_nothing_reads_it_is_still_not_json(
    number: str, reason: str
) -> None:
    """msgspec skips such a number; orjson refuses it, and so the line has always been refused."""
    good = json.dumps(event(record("NCT00973089"), "e1"))
    line = (good[:-1] + f', "extension": [{number}]}}').encode()
    assert lean_event(line) is None
    result = validate(_second_line(line))
    assert not isinstance(result, StudyEvent) and result.reason.startswith(reason)


def test_an_integer_past_64_bits_reads_as_the_float_orjson_makes_of_it() -> None:
    data = record("NCT00973089")
    data["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 10**20
    line = json.dumps(event(data, "e1")).encode()
    result = validate(_second_line(line))
    assert isinstance(result, StudyEvent) and result.summary is not None
    assert result.summary["enrollment"]["count"] == 1e20
    assert isinstance(result.summary["enrollment"]["count"], float)


def test_a_line_nested_past_orjsons_depth_is_refused_whatever_the_recursion_limit() -> None:
    good = json.dumps(event(record("NCT00973089"), "e1"))
    line = (good[:-1] + ', "deep": ' + "[" * 1100 + "]" * 1100 + "}").encode()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)
    try:
        assert lean_event(line) is None
        result = validate(_second_line(line))
    finally:
        sys.setrecursionlimit(limit)
    assert not isinstance(result, StudyEvent) and "not valid JSON" in result.reason


def test_a_line_that_is_not_utf8_is_read_whole_with_replacement_characters() -> None:
    good = json.dumps(event(record("NCT00973089"), "e1"))
    line = (good[:-1] + ', "note": "caf\xe9"}').encode("latin-1")
    item = _second_line(line)
    assert not item.lean and item.text is not None and item.text.endswith('"caf\ufffd"}')
    assert isinstance(validate(item), StudyEvent)


def test_a_rejection_of_a_lean_line_names_the_event_as_the_whole_parse_does() -> None:
    data = record("NCT00973089")
    data["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2012-13"
    line = json.dumps(event(data, "e1") | {"extension": {"a": [1, 2]}}).encode()
    result = validate(_second_line(line))
    assert not isinstance(result, StudyEvent)
    assert repr(result) == repr(validate(_whole(line)))
    assert result.event_id == "e1" and "not a calendar date" in result.reason


BASE = event(record("NCT03475563"), "e1")
# Where a drawn snippet of JSON text goes: a member nothing reads, or one that is read.
PLACES = [
    ("extension",),
    ("data", "extension"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "geoPoint", "lat"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 1, "geoPoint"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "geoPoint", "lon"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "facility"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 1, "status"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 2, "city"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "country"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "state"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 1),
    ("data", "protocolSection", "contactsLocationsModule", "locations"),
    ("data", "protocolSection", "designModule", "enrollmentInfo", "count"),
    ("data", "protocolSection", "eligibilityModule", "healthyVolunteers"),
    ("data", "protocolSection", "identificationModule", "briefTitle"),
    ("data", "protocolSection", "statusModule", "startDateStruct"),
    ("data", "derivedSection", "conditionBrowseModule", "meshes"),
    ("data", "hasResults"),
    ("id",),
]
NUMBERS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,4})?", fullmatch=True
)
STRINGS = st.text(max_size=6).map(lambda text: json.dumps(text, ensure_ascii=False))
SNIPPETS = st.one_of(
    NUMBERS,
    STRINGS,
    st.sampled_from(
        [
            "null",
            "true",
            "{}",
            "[]",
            "01",
            "1.",
            "-",
            "NaN",
            "[1,]",
            '"\\ud800"',
            '"\\udc00\\ud800"',
            '"\\ud83d\\ude00"',
            '"\\u0000"',
            '"a\\x"',
            '"tab\there"',
            '{"lat": 45.5, "lon": 9}',
            '{"id": "D1", "term": "x"}',
            '[{"id": "D1", "term": "x"}]',
            '{"date": "2012-09", "type": "ACTUAL"}',
            "[" * 30 + "]" * 30,
        ]
    ),
    st.lists(NUMBERS, min_size=1, max_size=3).map(lambda numbers: f"[{', '.join(numbers)}]"),
)
MARK = "@@snippet@@"


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    value = copy.deepcopy(BASE)
    path = draw(st.sampled_from(PLACES))
    parent: Any = value
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = MARK
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return text.replace(json.dumps(MARK), draw(SNIPPETS)).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_lean_and_whole_parses_agree_on_any_line(line: bytes) -> None:
    """Compared by repr: 1, 1.0 and True are equal, and so are -0.0 and 0.0, yet not the same."""
    with _default_recursion_limit():
        assert _second_line(json.dumps(BASE).encode()).lean
        lean = validate(_second_line(line))
    assert repr(lean) == repr(validate(_whole(line)))


@contextmanager
def _default_recursion_limit() -> Iterator[None]:
    """Python's own limit: hypothesis raises it while a test runs, and lean_event declines then."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


BASE_LINE = json.dumps(BASE, ensure_ascii=False).encode()
EDIT_BYTES = st.binary(min_size=0, max_size=3) | st.lists(
    st.sampled_from(list(b'{}[]":,\\0123456789eE+-.tfnul \txa\xff\xc3')), min_size=1, max_size=3
).map(bytes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(BASE_LINE) - 1), st.integers(0, 3), EDIT_BYTES)))
def test_lean_and_whole_parses_agree_on_a_line_with_a_few_bytes_changed(
    edits: list[tuple[int, int, bytes]],
) -> None:
    """Broken JSON anywhere, most of it where msgspec skips and orjson does not."""
    line = bytearray(BASE_LINE)
    for at, removed, added in edits[:3]:
        line[at : at + removed] = added
    text = bytes(line).replace(b"\n", b" ").replace(b"\r", b" ").strip() or b"{}"
    with _default_recursion_limit():
        lean = validate(_second_line(text))
    assert repr(lean) == repr(validate(_whole(text)))


EDGES = [-180.5, -180, -90.5, -90, -0.0, 0, 45, 45.5, 90, 90.00001, 180, 180.5]


def test_a_point_on_or_past_the_edges_is_summarized_alike_read_lean_or_whole() -> None:
    data = record("NCT00973089")
    points = [{"lat": lat, "lon": lon} for lat in EDGES for lon in EDGES]
    locations = [{"geoPoint": point} for point in points] + [{"geoPoint": {"lat": 1}}, {}]
    data["protocolSection"]["contactsLocationsModule"] = {"locations": locations}
    line = json.dumps(event(data, "e1")).encode()
    item = _second_line(line)
    assert item.lean
    assert repr(validate(item)) == repr(validate(_whole(line)))


PADDED = st.text(alphabet=" \t\u00a0\u2003aé", max_size=5)
COORDINATES = (
    st.sampled_from([-90, 90, -180, 180, -90.0, -90.5, 90.00001, -180.5, 180.5, 181, 0, -0.0])
    | st.floats(-200, 200).filter(lambda x: abs(x) >= 0.01 or x == 0)  # no 19-digit run: lean
    | st.integers(-200, 200)
)
LOCATIONS = st.fixed_dictionaries(
    {},
    optional={
        "facility": PADDED,
        "status": PADDED,
        "city": PADDED,
        "country": PADDED,
        "state": PADDED | st.none() | st.integers(-9, 9) | st.lists(st.integers(-9, 9), max_size=2),
        "geoPoint": st.fixed_dictionaries({}, optional={"lat": COORDINATES, "lon": COORDINATES}),
        "zip": PADDED,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LOCATIONS, min_size=1, max_size=4))
def test_a_location_read_lean_has_the_summary_of_the_same_location_read_whole(
    locations: list[dict[str, Any]],
) -> None:
    data = record("NCT00973089")
    data["protocolSection"]["contactsLocationsModule"] = {"locations": locations}
    line = json.dumps(event(data, "e1"), allow_nan=False).encode()
    with _default_recursion_limit():
        item = _second_line(line)
        assert item.lean
        lean = validate(item)
    assert repr(lean) == repr(validate(_whole(line)))
