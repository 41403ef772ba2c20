"""Reading CloudEvents files and validating events against the published schema."""

from __future__ import annotations

import io
import json

import pytest

from tests.support import event, record
from worker.ingest.events import Rejection, StudyEvent, items_of, read_items, validate


def _read(text: str) -> list:
    return [validate(item) for item in read_items(io.BytesIO(text.encode()))]


def test_jsonl_reports_physical_line_numbers_and_skips_blank_lines() -> None:
    good = json.dumps(event(record("NCT00973089"), "e1"))
    results = _read(f"\n{good}\n\n{{broken\n{good}\n")
    assert [type(r).__name__ for r in results] == ["StudyEvent", "Rejection", "StudyEvent"]
    assert results[1].line == 4 and "not valid JSON" in results[1].reason


def test_a_json_array_reports_item_positions() -> None:
    events = [event(record("NCT00973089"), "e1"), {"specversion": "1.0"}]
    results = _read(json.dumps(events))
    assert isinstance(results[0], StudyEvent)
    assert isinstance(results[1], Rejection) and results[1].where == "item 2"


def test_one_pretty_printed_event_is_read_whole() -> None:
    [result] = _read("\ufeff" + json.dumps(event(record("NCT00973089"), "e1"), indent=2))
    assert isinstance(result, StudyEvent) and result.nct_id == "NCT00973089"


def test_an_empty_file_has_no_items() -> None:
    assert _read("\n\n") == []


def test_a_valid_event_carries_what_ingest_needs() -> None:
    [result] = [validate(i) for i in items_of(event(record("NCT04267848"), "evt-1"))]
    assert isinstance(result, StudyEvent)
    assert (result.source, result.event_id, result.nct_id) == (
        "https://clinicaltrials.gov",
        "evt-1",
        "NCT04267848",
    )
    assert (
        result.last_update == "2025-09-09"
        and result.time.isoformat() == "2026-06-27T09:00:00+00:00"
    )


def _reason(value: object) -> str:
    [result] = [validate(i) for i in items_of([value])]
    assert isinstance(result, Rejection)
    return result.reason


def test_an_event_without_nct_id_is_rejected_naming_the_field() -> None:
    data = record("NCT00973089")
    del data["protocolSection"]["identificationModule"]["nctId"]
    bad = event(data, "e2", subject="NCT00973089")
    assert "nctId" in _reason(bad)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"type": "gov.clinicaltrials.study.exploded"}, "event.type must be one of"),
        ({"specversion": "0.3"}, "specversion"),
        ({"id": ""}, "event.id"),
        ({"time": "yesterday"}, "event.time"),
        ({"subject": "NCT99999999"}, "does not match"),
    ],
)
def test_envelope_errors_are_named(change: dict, expected: str) -> None:
    bad = event(record("NCT00973089"), "e3") | change
    assert expected in _reason(bad)


def test_an_updated_event_needs_data_but_a_removed_one_needs_only_a_subject() -> None:
    assert "data" in _reason(
        {"specversion": "1.0", "id": "x", "source": "s", "type": "gov.clinicaltrials.study.updated"}
    )
    removed = event(None, "r1", type="gov.clinicaltrials.study.removed", subject="NCT00973089")
    [result] = [validate(i) for i in items_of(removed)]
    assert isinstance(result, StudyEvent) and result.removed and result.nct_id == "NCT00973089"


def test_a_non_object_is_rejected() -> None:
    assert "expected a JSON object" in _reason([1, 2])
