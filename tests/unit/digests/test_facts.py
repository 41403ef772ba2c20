"""Plain words for a study: its phase, who can join, how fresh its status is, sites near you."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from tests.support import real_record_names, record
from worker.digests.facts import (
    NOT_STATED,
    age_range,
    distance,
    months_since,
    phase_words,
    site_line,
    stale_status,
    study_lines,
    who_can_join,
)
from worker.ingest.studies import summarize


@pytest.mark.parametrize(
    ("phases", "words"),
    [
        (["EARLY_PHASE1"], "Early phase 1: a first, very small test in people"),
        (["PHASE1"], "Phase 1: is it safe, and at what dose"),
        (["PHASE2"], "Phase 2: does it work, is it safe"),
        (["PHASE3"], "Phase 3: does it work better than the usual treatment"),
        (["PHASE4"], "Phase 4: how does it work in everyday use, after approval"),
        (["NA"], "No phase: not a drug trial run in phases (e.g. a device or a procedure)"),
        (["PHASE1", "PHASE2"], "Phase 1/2: is it safe, at what dose, and does it work"),
        (["PHASE2", "PHASE1"], "Phase 1/2: is it safe, at what dose, and does it work"),
        (["PHASE2", "PHASE3"], "Phase 2/3: does it work, and better than the usual treatment"),
        (["PHASE1", "PHASE3"], "Phases: Phase1, Phase3"),  # not a registry combination
    ],
)
def test_each_phase_says_what_the_study_asks(phases: list[str], words: str) -> None:
    assert phase_words({"phases": phases, "study_type": "INTERVENTIONAL"}) == words


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        ({"phases": [], "study_type": "OBSERVATIONAL"}, "Observational study: researchers follow"),
        ({"phases": [], "study_type": "EXPANDED_ACCESS"}, "Expanded access: an experimental"),
        ({"phases": [], "study_type": "INTERVENTIONAL"}, ""),
        ({}, ""),  # a summary stored before phases were kept
        ({"phases": "PHASE2", "study_type": 7}, ""),
    ],
)
def test_studies_without_a_phase_say_their_type_or_nothing(
    facts: dict[str, Any], words: str
) -> None:
    assert phase_words(facts).startswith(words) and bool(phase_words(facts)) == bool(words)


@pytest.mark.parametrize(
    ("low", "high", "words"),
    [
        ("18 Years", "64 Years", "aged 18 to 64"),
        ("18 Years", None, "aged 18 and over"),
        ("18 Years", "N/A", "aged 18 and over"),
        (None, "17 Years", "aged 17 and under"),
        ("6 Months", "17 Years", "aged 6 months to 17 years"),
        ("1 Month", "1 Year", "aged 1 month to 1 year"),
        ("28 Days", "6 Weeks", "aged 28 days to 6 weeks"),
        ("2 Hours", None, "aged 2 hours and over"),
        ("6 Months", None, "aged 6 months and over"),
        ("N/A", "", "any age"),
        ("old enough", None, "any age"),  # unreadable: not stated
        ("65 Years", "18 Years", "any age"),  # a minimum past the maximum: not stated
    ],
)
def test_the_age_range_reads_the_registry_texts(
    low: str | None, high: str | None, words: str
) -> None:
    eligibility = {key: value for key, value in (("minimumAge", low), ("maximumAge", high))}
    assert age_range(eligibility) == words


def test_who_can_join_names_age_sex_and_healthy_volunteers() -> None:
    facts = {
        "eligibility": {
            "minimumAge": "18 Years",
            "maximumAge": "64 Years",
            "sex": "ALL",
            "healthyVolunteers": True,
        }
    }
    assert who_can_join(facts) == (
        "Who can join: aged 18 to 64 · all sexes · healthy volunteers accepted"
    )
    facts["eligibility"] |= {"sex": "FEMALE", "healthyVolunteers": False, "maximumAge": ""}
    assert (
        who_can_join(facts)
        == "Who can join: aged 18 and over · female only · no healthy volunteers"
    )


@pytest.mark.parametrize(
    "facts",
    [
        {"eligibility": {"criteria": "Inclusion: adults", "sex": "", "minimumAge": ""}},
        {"eligibility": {}},
        {"eligibility": "odd"},
        {},
    ],
)
def test_a_study_stating_no_eligibility_says_so(facts: dict[str, Any]) -> None:
    assert who_can_join(facts) == NOT_STATED == "Who can join: eligibility not stated"


def test_every_real_record_reads_as_a_phase_and_who_can_join() -> None:
    lines = {}
    for name in real_record_names():
        summary = summarize(record(name))
        lines[name] = (phase_words(summary), who_can_join(summary))
    assert lines["NCT02210780"] == (
        "Phase 2: does it work, is it safe",
        "Who can join: aged 18 to 64 · all sexes · no healthy volunteers",
    )
    assert lines["NCT03475563"][0].startswith("Observational study")
    assert lines["NCT00973089"][1].startswith("Who can join: aged 5 to 8")


@pytest.mark.parametrize(
    "facts",
    [
        *({"phases": phases, "study_type": kind} for phases in (["PHASE2"], [], None, "PHASE2")
          for kind in ("OBSERVATIONAL", None, 7)),
        {"eligibility": {"minimumAge": "18 Years", "sex": "FEMALE", "healthyVolunteers": True}},
        {"eligibility": {"minimumAge": "18 Years", "sex": "FEMALE", "healthyVolunteers": 1}},
        {"eligibility": {"minimumAge": "18 Years", "healthyVolunteers": "true"}},
        {"eligibility": {"maximumAge": 17, "sex": ["ALL"]}},
        {"eligibility": {"minimumAge": "18 Years"}, "phases": [1, True]},
        {"eligibility": {"minimumAge": "18 Years"}, "phases": [True]},
        {"eligibility": "odd", "phases": [["PHASE1"]]},
        {"eligibility": {}},
        {},
    ],
)  # fmt: skip
def test_a_studys_lines_are_the_same_however_often_they_are_asked(facts: dict[str, Any]) -> None:
    """study_lines keeps lines per value: equal values of another type must not share them."""
    for _ in range(2):
        assert study_lines(facts) == (phase_words(facts), who_can_join(facts))


def test_every_real_records_lines_are_kept_as_worded() -> None:
    for name in real_record_names():
        summary = summarize(record(name))
        assert study_lines(summary) == (phase_words(summary), who_can_join(summary))
        assert study_lines(summary) == study_lines(dict(summary))


@pytest.mark.parametrize(
    ("verified", "today", "months"),
    [
        ("2025-06", date(2026, 6, 1), 12),
        ("2025-06", date(2026, 5, 31), 11),
        ("2025-05", date(2026, 6, 1), 13),
        ("2025-06-15", date(2026, 6, 14), 11),
        ("2025-06-15", date(2026, 6, 15), 12),
        ("2025-01-31", date(2025, 2, 28), 0),  # a short month: not a whole month yet
        ("2025-01-31", date(2025, 3, 1), 1),
        ("2024-02-29", date(2025, 2, 28), 11),  # leap day
        ("2024-02-29", date(2025, 3, 1), 12),
        ("2025-12", date(2026, 1, 1), 1),  # across the year
        ("2019-11", date(2026, 6, 29), 79),
        ("2019", date(2020, 1, 1), 12),
        ("2026-07", date(2026, 6, 29), None),  # after today
        ("2026-13", date(2026, 6, 29), None),
        ("soon", date(2026, 6, 29), None),
        (None, date(2026, 6, 29), None),
    ],
)
def test_months_since_verified_at_calendar_edges(
    verified: Any, today: date, months: int | None
) -> None:
    assert months_since(verified, today) == months


def test_a_status_is_called_stale_only_past_twelve_months() -> None:
    assert stale_status("2025-06", date(2026, 6, 30)) == ""
    assert stale_status("2025-05", date(2026, 6, 1)) == (
        "Status last verified 13 months ago: it may not be current"
    )
    assert stale_status(None, date(2026, 6, 1)) == ""
    assert stale_status(202001, date(2026, 6, 1)) == ""
    at_eight = datetime(2026, 6, 1, 8)
    assert stale_status("2025-05", at_eight) == stale_status("2025-05", date(2026, 6, 1))


def test_distances_in_kilometres_and_miles() -> None:
    assert distance(2.1) == "2.1 km (1.3 mi)"
    assert distance(0.04) == "0.0 km (0.0 mi)"
    assert distance(87.3) == "87 km (54 mi)"


def test_site_lines_name_the_site_its_city_and_the_distance() -> None:
    site = {"facility": "Hospital del Mar", "city": "Barcelona", "state": "", "country": "Spain"}
    assert site_line({**site, "why": "opened", "km": 2.1}) == (
        "A site opened near you: Hospital del Mar, Barcelona, Spain, 2.1 km (1.3 mi)"
    )
    assert site_line({**site, "why": "recruiting", "km": 2.1}).startswith(
        "A site near you started recruiting: Hospital del Mar, Barcelona"
    )
    assert site_line({**site, "why": "nearest", "km": 12}) == (
        "Nearest site: Hospital del Mar, Barcelona, Spain, 12 km (7 mi)"
    )
    assert site_line({"why": "opened", "km": 5, "city": "Girona"}) == (
        "A site opened near you: Girona, 5.0 km (3.1 mi)"
    )
    for odd in (None, {}, {**site, "why": "why"}, {**site, "why": "nearest", "km": "far"}):
        assert site_line(odd) == ""
