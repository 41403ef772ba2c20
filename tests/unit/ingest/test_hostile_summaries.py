"""Summaries of what a hostile upstream may send: same answers, in time linear in the input."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import event, record
from worker.ingest.events import StudyEvent, read_items, validate
from worker.ingest.studies import canonical_mesh_id

# The expression MeSH ids were always read with: the answers must not change.
_ORIGINAL = re.compile(r"^([A-Za-z]+)0*(\d+)$")


def _original(raw: str) -> str:
    found = _ORIGINAL.match(raw.strip())
    return f"{found.group(1).upper()}{int(found.group(2))}" if found else raw.strip()


def _outcome(read: Callable[[str], str], raw: str) -> str:
    """What `read` makes of `raw`, or the error it raises (an int of over 4,300 digits)."""
    try:
        return read(raw)
    except ValueError as error:
        return f"ValueError: {error}"


@pytest.mark.parametrize(
    "raw",
    [
        "D000001943",
        "d001943",
        " D0 ",
        "D00",
        "D",
        "0001",
        "DC0010x",
        "D0000\n",
        "D12\u0663",  # an Arabic-Indic digit: int() reads it
        "Dé12",
        "D" + "0" * 40 + "7",
        "D" + "0" * 40 + "x",
        "D" + "1" * 30,
        "D" + "0" * 5000 + "1",  # past int()'s 4,300 digits, but for the leading zeros
        "D" + "0" * 5000,
        "D00\u0660" + "0" * 5000 + "1",  # an Arabic-Indic zero is no leading "0"
    ],
)
def test_a_mesh_id_reads_as_it_always_has(raw: str) -> None:
    assert _outcome(canonical_mesh_id, raw) == _outcome(_original, raw)


@given(st.text(alphabet="Dd0 1x\u0660\u0663\u00e9\n", max_size=30))
def test_any_mesh_id_reads_as_it_always_has(raw: str) -> None:
    assert _outcome(canonical_mesh_id, raw) == _outcome(_original, raw)


def test_a_line_with_a_mesh_id_of_many_zeros_is_published_in_linear_time() -> None:
    """An id of "D", 50,000 zeros and "x": the old expression backtracked through every
    split of the zeros (11 s here; a 10 MB body, the most POST /events takes, days)."""
    data = record("NCT00973089")
    hostile = "D" + "0" * 50_000 + "x"
    data["derivedSection"]["conditionBrowseModule"]["meshes"] = [{"id": hostile, "term": "T"}]
    first = json.dumps(event(record("NCT00973089"), "e0"))
    stream = io.BytesIO(f"{first}\n{json.dumps(event(data, 'e1'))}".encode())
    started = time.process_time()
    results = [validate(item) for item in read_items(stream)]
    assert time.process_time() - started < 1.0
    assert isinstance(results[1], StudyEvent) and results[1].summary is not None
    assert results[1].summary["meshes"] == [{"id": hostile, "term": "T"}]
