"""Study summaries and the diff into classified changes, on real registry records."""

from __future__ import annotations

import copy

import pytest

from tests.support import real_record_names, record, with_changes
from worker.ingest.studies import (
    Change,
    InvalidStudy,
    calendar_date,
    canonical_mesh_id,
    diff,
    matching_view_changed,
    summarize,
)


@pytest.mark.parametrize("name", real_record_names())
def test_an_unchanged_record_gives_no_change(name: str) -> None:
    summary = summarize(record(name))
    assert diff(summary, summarize(record(name))) == []


@pytest.mark.parametrize("name", real_record_names())
def test_a_change_of_only_the_last_update_dates_is_not_a_change(name: str) -> None:
    data = record(name)
    status = data["protocolSection"]["statusModule"]
    status["lastUpdateSubmitDate"] = "2026-11-01"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-02", "type": "ACTUAL"}
    status["statusVerifiedDate"] = "2026-11"
    assert diff(summarize(record(name)), summarize(data)) == []


def test_a_site_status_edit_is_a_site_status_change() -> None:
    data = record("NCT04267848")
    site = data["protocolSection"]["contactsLocationsModule"]["locations"][0]
    old = site["status"]
    site["status"] = "RECRUITING"
    changes = diff(summarize(record("NCT04267848")), summarize(data))
    assert changes == [
        Change(
            "site_status",
            "Anchorage Associates in Radiation Medicine, Anchorage, United States",
            old,
            "RECRUITING",
        )
    ]


def test_sites_added_and_removed_are_named() -> None:
    data = record("NCT04267848")
    locations = data["protocolSection"]["contactsLocationsModule"]["locations"]
    removed = locations.pop(3)
    locations.append(
        {
            "facility": "Fondazione CNAO",
            "city": "Pavia",
            "country": "Italy",
            "status": "NOT_YET_RECRUITING",
        }
    )
    changes = diff(summarize(record("NCT04267848")), summarize(data))
    assert (
        Change("site_added", "Fondazione CNAO, Pavia, Italy", None, "NOT_YET_RECRUITING") in changes
    )
    label = f"{removed['facility']}, {removed['city']}, {removed['country']}"
    assert Change("site_removed", label, removed["status"], None) in changes
    assert len(changes) == 2


def test_the_record_with_1148_sites_summarizes_every_site() -> None:
    summary = summarize(record("NCT04267848"))
    assert len(summary["sites"]) == 1148
    assert summary["sites"][0]["lat"] == pytest.approx(61.21806)


@pytest.mark.parametrize(
    "point",
    [
        {"lat": 999, "lon": 2.17},
        {"lat": 95.0, "lon": 2.17},
        {"lat": 41.38, "lon": 1e308},
        {"lat": -1e308, "lon": -181},
        {"lat": True, "lon": 2.17},
        {"lat": 41.38},
    ],
)
def test_a_site_point_off_the_globe_is_no_point(point: dict[str, object]) -> None:
    """Kept, lat 95 was read past the pole: a site 567 km away "opened near you"."""
    data = record("NCT03475563")
    site = data["protocolSection"]["contactsLocationsModule"]["locations"][0]
    site["geoPoint"] = point
    summarized = summarize(data)["sites"][0]
    assert (summarized["lat"], summarized["lon"]) == (None, None)
    site["geoPoint"] = {"lat": -90, "lon": 180}
    assert (summarize(data)["sites"][0]["lat"], summarize(data)["sites"][0]["lon"]) == (-90, 180)


def test_unknown_status_without_a_new_last_update_date_is_a_status_change() -> None:
    """NCT03475563 flipped to UNKNOWN (lastKnownStatus RECRUITING) with a stale date."""
    current = record("NCT03475563")
    status = current["protocolSection"]["statusModule"]
    assert status["overallStatus"] == "UNKNOWN"
    earlier = copy.deepcopy(current)
    earlier["protocolSection"]["statusModule"]["overallStatus"] = status["lastKnownStatus"]
    assert diff(summarize(earlier), summarize(current)) == [
        Change("status", "overallStatus", "RECRUITING", "UNKNOWN")
    ]


def test_the_15_mb_record_with_results_diffs_quickly_and_completely() -> None:
    before = summarize(record("NCT02513394"))
    after_data = record("NCT02513394")
    after_data["protocolSection"]["identificationModule"]["briefTitle"] = "A new title"
    after_data["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 9999
    changes = diff(before, summarize(after_data))
    assert [c.kind for c in changes] == ["title", "enrollment"]
    assert before["has_results"] is True


def test_results_posted_eligibility_and_key_dates() -> None:
    before_data = record("NCT06171568")
    after_data = copy.deepcopy(before_data)
    after_data["hasResults"] = True
    after_data["protocolSection"]["eligibilityModule"]["minimumAge"] = "21 Years"
    after_data["protocolSection"]["statusModule"]["startDateStruct"] = {
        "date": "2027-01-15",
        "type": "ACTUAL",
    }
    kinds = {(c.kind, c.field) for c in diff(summarize(before_data), summarize(after_data))}
    assert kinds == {
        ("results_posted", "hasResults"),
        ("eligibility", "minimumAge"),
        ("dates", "start"),
    }


def test_new_and_removed_studies() -> None:
    summary = summarize(record("NCT00973089"))
    assert diff(None, summary) == [
        Change("new_study", None, None, {"title": summary["title"], "status": "WITHDRAWN"})
    ]
    assert [c.kind for c in diff(summary, None)] == ["removed"]
    assert diff(None, None) == []


def test_conditions_change() -> None:
    data = record("NCT02210780")
    data["protocolSection"]["conditionsModule"]["conditions"].append("Eczema")
    [change] = diff(summarize(record("NCT02210780")), summarize(data))
    assert change.kind == "conditions" and "Eczema" in change.after


def test_mesh_ids_compare_as_letter_and_number() -> None:
    assert canonical_mesh_id("D000001943") == canonical_mesh_id("D001943") == "D1943"
    padded = summarize(record("NCT06171568"))["meshes"][0]
    assert padded == {"id": "D1930", "term": "Brain Injuries"}


def test_an_id_longer_than_any_mesh_id_is_read_as_the_others() -> None:
    assert canonical_mesh_id(" D" + "0" * 30 + "1943 ") == "D1943"
    assert canonical_mesh_id("not an id " * 5) == ("not an id " * 5).strip()


def test_browse_leaves_are_used_when_meshes_are_absent() -> None:
    data = record("NCT06171568")
    module = data["derivedSection"]["conditionBrowseModule"]
    del module["meshes"], module["ancestors"]
    summary = summarize(data)
    assert [m["term"] for m in summary["meshes"]] == ["Brain Injuries"]
    assert "Brain Diseases" in [a["term"] for a in summary["ancestors"]]


def test_a_partial_record_without_derived_section_summarizes() -> None:
    summary = summarize(record("NCT02576665.partial"))
    assert summary["meshes"] == [] and "Head and Neck Cancer" in summary["conditions"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"protocolSection": {}},
        {"protocolSection": {"identificationModule": {"nctId": "NCT123"}}},
    ],
)
def test_a_record_without_a_valid_nct_id_is_invalid(data: dict) -> None:
    with pytest.raises(InvalidStudy):
        summarize(data)


def test_what_matching_reads_changes_with_concepts_status_sites_and_filtered_fields() -> None:
    """Matching skips the previous snapshot when this says no (ReceivedEvent.matching_changed)."""
    before = summarize(record("NCT03475563"))
    dated = summarize(
        with_changes(
            record("NCT03475563"), lastUpdateSubmitDate="2026-06-02", statusVerifiedDate="2026-06"
        )
    )
    retitled = dated | {"title": "Another title", "has_results": True}
    keyworded = copy.deepcopy(before) | {"keywords": [*before["keywords"], "Glioblastoma"]}
    recruiting = copy.deepcopy(before) | {"status": "RECRUITING"}
    older = before | {"eligibility": before["eligibility"] | {"maximumAge": "80 Years"}}
    phased = before | {"phases": ["PHASE3"]}
    interventional = before | {"study_type": "INTERVENTIONAL"}
    assert not matching_view_changed(before, retitled)
    for changed in (keyworded, recruiting, older, phased, interventional):
        assert matching_view_changed(before, changed)
    assert matching_view_changed(None, before) and matching_view_changed(before, None)


def test_phases_study_type_and_status_verified_are_summarized() -> None:
    summary = summarize(record("NCT04267848"))
    assert summary["phases"] == ["PHASE3"]
    assert summary["study_type"] == "INTERVENTIONAL"
    assert summary["status_verified"] == "2025-08"
    observational = summarize(record("NCT03475563"))
    assert observational["phases"] == [] and observational["study_type"] == "OBSERVATIONAL"


def test_a_study_without_a_status_verified_date_has_none() -> None:
    data = record("NCT04267848")
    del data["protocolSection"]["statusModule"]["statusVerifiedDate"]
    assert summarize(data)["status_verified"] is None


def test_a_status_verified_date_that_is_no_date_makes_the_record_invalid() -> None:
    data = with_changes(record("NCT04267848"), statusVerifiedDate="2025-13")
    with pytest.raises(InvalidStudy, match="statusVerifiedDate '2025-13' is not a calendar date"):
        summarize(data)


def test_a_new_phase_or_study_type_is_a_design_change() -> None:
    before = summarize(record("NCT04267848"))
    data = record("NCT04267848")
    data["protocolSection"]["designModule"]["phases"] = ["PHASE2", "PHASE3"]
    data["protocolSection"]["designModule"]["studyType"] = "EXPANDED_ACCESS"
    assert diff(before, summarize(data)) == [
        Change("design", "phases", ["PHASE3"], ["PHASE2", "PHASE3"]),
        Change("design", "study_type", "INTERVENTIONAL", "EXPANDED_ACCESS"),
    ]


def test_a_summary_stored_before_phases_existed_gives_no_design_change() -> None:
    current = summarize(record("NCT04267848"))
    stored = {k: v for k, v in current.items() if k not in ("phases", "study_type")}
    assert diff(stored, current) == []


@pytest.mark.parametrize("value", ["2012-09-30", "2012-09", "2012"])
def test_calendar_dates_whole_or_partial_are_taken(value: str) -> None:
    assert calendar_date(value, "startDateStruct.date") == value


@pytest.mark.parametrize(
    "value", ["9999-99-99", "2012-02-30", "2012-13", "0000-01-01", "2012-09-30\n", " 2012", "+2012"]
)
def test_anything_else_is_not_a_calendar_date(value: str) -> None:
    with pytest.raises(InvalidStudy, match="is not a calendar date"):
        calendar_date(value, "startDateStruct.date")
