"""Eligibility and design filters: registry ages in days, sex, healthy volunteers, phases, types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import CTGOV, real_record_names, record
from worker.ingest.studies import summarize
from worker.matching.eligibility import (
    AgeSpan,
    accepts,
    eligibility_stated,
    parse_age,
    refused_by,
    study_eligibility,
    years_span,
)

YEAR = 365.25
UNIT_DAYS = {
    "Year": YEAR,
    "Month": YEAR / 12,
    "Week": 7.0,
    "Day": 1.0,
    "Hour": 1 / 24,
    "Minute": 1 / 1440,
}


@dataclass(frozen=True)
class Ask:
    age: int | None = None
    sex: str | None = None
    healthy_volunteers: bool | None = None
    phases: frozenset[str] = frozenset()
    study_types: frozenset[str] = frozenset()


def study(
    minimum: str | None = None,
    maximum: str | None = None,
    sex: str | None = None,
    healthy: bool | None = None,
    **design: Any,
) -> dict[str, Any]:
    """A summary with only what the filters read (absent values left out)."""
    eligibility = {"minimumAge": minimum, "maximumAge": maximum, "sex": sex}
    eligibility = {key: value for key, value in eligibility.items() if value is not None}
    if healthy is not None:
        eligibility["healthyVolunteers"] = healthy
    return {"eligibility": eligibility, **design}


def passes(ask: Ask, summary: dict[str, Any]) -> bool:
    return accepts(ask, study_eligibility(summary))


def real_studies() -> Iterator[dict[str, Any]]:
    for path in sorted(CTGOV.glob("*.json")):
        document = json.loads(path.read_text())
        yield from document.get("studies", [document])


# -- registry ages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("18 Years", 18 * YEAR),
        ("1 Year", YEAR),
        ("6 Months", 6 * YEAR / 12),
        ("2 Weeks", 14.0),
        ("3 Days", 3.0),
        ("12 Hours", 0.5),
        ("30 Minutes", 30 / 1440),
        ("  18   YEARS ", 18 * YEAR),
        ("18years", 18 * YEAR),
        ("1 month", YEAR / 12),
    ],
)
def test_every_registry_age_form_is_read_in_days(text: str, days: float) -> None:
    span = parse_age(text)
    assert span is not None and span.start == pytest.approx(days, rel=1e-12)


@pytest.mark.parametrize("text", ["N/A", "", "   ", None, 18, "eighteen Years", "-1 Years", "18"])
def test_anything_else_is_an_age_not_stated(text: object) -> None:
    assert parse_age(text) is None


def test_every_age_in_the_real_records_is_read() -> None:
    seen = 0
    for data in real_studies():
        eligibility = data["protocolSection"].get("eligibilityModule", {})
        for key in ("minimumAge", "maximumAge"):
            if key in eligibility and eligibility[key] != "N/A":
                assert parse_age(eligibility[key]) is not None, eligibility[key]
                seen += 1
    assert seen >= 12


def test_a_bound_covers_its_whole_unit() -> None:
    assert parse_age("17 Years") == AgeSpan(17 * YEAR, 18 * YEAR)
    assert parse_age("6 Months") == AgeSpan(6 * YEAR / 12, 7 * YEAR / 12)
    assert parse_age("12 Months") == AgeSpan(YEAR, 13 * YEAR / 12)


UNITS = st.sampled_from(sorted(UNIT_DAYS))


@given(
    number=st.integers(0, 999),
    unit=UNITS,
    plural=st.booleans(),
    before=st.sampled_from(["", " ", "  ", "\t"]),
    between=st.sampled_from(["", " ", "   "]),
    case=st.sampled_from([str, str.upper, str.lower]),
)
def test_any_spacing_and_case_reads_the_same_days(
    number: int, unit: str, plural: bool, before: str, between: str, case: Any
) -> None:
    text = case(f"{before}{number}{between}{unit}{'s' if plural else ''}{before}")
    span = parse_age(text)
    assert span is not None
    assert span.start == pytest.approx(number * UNIT_DAYS[unit], rel=1e-12)
    assert span.end == pytest.approx((number + 1) * UNIT_DAYS[unit], rel=1e-12)


@given(a=st.integers(0, 999), b=st.integers(0, 999), unit_a=UNITS, unit_b=UNITS)
def test_ages_in_days_order_as_the_ages_do(a: int, b: int, unit_a: str, unit_b: str) -> None:
    first, second = parse_age(f"{a} {unit_a}s"), parse_age(f"{b} {unit_b}s")
    assert first is not None and second is not None
    exact_first, exact_second = a * UNIT_DAYS[unit_a], b * UNIT_DAYS[unit_b]
    if abs(exact_first - exact_second) > 1e-6:
        assert (first.start < second.start) == (exact_first < exact_second)


def test_years_and_months_meet_exactly() -> None:
    assert parse_age("12 Months").start == parse_age("1 Year").start  # type: ignore[union-attr]
    assert parse_age("24 Months").start == years_span(2).start  # type: ignore[union-attr]


# -- age: a person of whole years -----------------------------------------------------------


@given(age=st.integers(0, 120), low=st.integers(0, 120), high=st.integers(0, 120))
def test_year_bounds_take_exactly_minimum_to_maximum_inclusive(
    age: int, low: int, high: int
) -> None:
    summary = study(f"{low} Years", f"{high} Years")
    assert passes(Ask(age=age), summary) == (low <= age <= high or low > high)


@given(age=st.integers(0, 120), months=st.integers(0, 1500))
def test_a_month_minimum_takes_whoever_reaches_it_within_their_year(age: int, months: int) -> None:
    assert passes(Ask(age=age), study(f"{months} Months")) == ((age + 1) * 12 > months)


@given(age=st.integers(0, 120), months=st.integers(0, 1500))
def test_a_month_maximum_takes_whoever_is_under_it_at_their_birthday(age: int, months: int) -> None:
    assert passes(Ask(age=age), study(maximum=f"{months} Months")) == (age * 12 <= months)


def test_the_boundaries_named_in_the_rules() -> None:
    eighteen = Ask(age=18)
    assert passes(eighteen, study("18 Years"))
    assert passes(eighteen, study(maximum="18 Years"))
    assert passes(Ask(age=17), study(maximum="17 Years"))  # also at 17 years and 11 months
    assert not passes(eighteen, study(maximum="17 Years"))
    assert not passes(Ask(age=17), study("18 Years"))
    assert passes(Ask(age=0), study(maximum="6 Months"))
    assert not passes(Ask(age=1), study(maximum="11 Months"))
    assert passes(Ask(age=1), study(maximum="12 Months"))
    assert passes(Ask(age=0), study("52 Weeks"))  # 364 days: a baby can be that old
    assert not passes(Ask(age=0), study("53 Weeks"))  # 371 days: a year and more
    assert passes(Ask(age=0), study(maximum="12 Hours"))
    assert not passes(Ask(age=1), study(maximum="30 Days"))


def test_an_age_not_stated_accepts_every_age() -> None:
    for age in (0, 40, 120):
        assert passes(Ask(age=age), study())
        assert passes(Ask(age=age), study("N/A", "N/A"))
        assert passes(Ask(age=age), study("", "lots of years"))


# -- sex, healthy volunteers, phases, study types ---------------------------------------------


def test_sex() -> None:
    for sex in ("female", "male"):
        assert passes(Ask(sex=sex), study(sex="ALL"))
        assert passes(Ask(sex=sex), study())
    assert passes(Ask(sex="female"), study(sex="FEMALE"))
    assert not passes(Ask(sex="male"), study(sex="FEMALE"))
    assert not passes(Ask(sex="female"), study(sex="MALE"))
    assert passes(Ask(), study(sex="MALE"))


def test_healthy_volunteers_keep_the_studies_that_take_them() -> None:
    healthy = Ask(healthy_volunteers=True)
    assert passes(healthy, study(healthy=True))
    assert not passes(healthy, study(healthy=False))
    assert passes(healthy, study())  # not stated
    assert passes(Ask(), study(healthy=False))


def test_phases_overlap_and_a_study_without_phases_counts_as_not_applicable() -> None:
    assert passes(Ask(phases=frozenset({"PHASE2"})), study(phases=["PHASE2", "PHASE3"]))
    assert not passes(Ask(phases=frozenset({"PHASE1"})), study(phases=["PHASE2", "PHASE3"]))
    assert not passes(Ask(phases=frozenset({"PHASE3"})), study(phases=[]))
    assert passes(Ask(phases=frozenset({"NA"})), study(phases=[]))
    assert passes(Ask(phases=frozenset({"PHASE3"})), study())  # stored before phases were


def test_study_types() -> None:
    wanted = Ask(study_types=frozenset({"INTERVENTIONAL"}))
    assert passes(wanted, study(study_type="INTERVENTIONAL"))
    assert not passes(wanted, study(study_type="OBSERVATIONAL"))
    assert passes(wanted, study(study_type=""))
    assert passes(wanted, study())


def test_refused_by_names_every_failing_filter() -> None:
    ask = Ask(age=70, sex="male", healthy_volunteers=True, phases=frozenset({"PHASE1"}))
    summary = study("18 Years", "65 Years", "FEMALE", False, phases=["PHASE3"])
    assert refused_by(ask, study_eligibility(summary)) == [
        "sex",
        "age",
        "healthy_volunteers",
        "phases",
    ]
    assert refused_by(Ask(age=40), study_eligibility(summary)) == []


# -- real records ----------------------------------------------------------------------------


def test_real_records() -> None:
    nsclc = study_eligibility(summarize(record("NCT04267848")))
    assert nsclc.min_days == 18 * YEAR and nsclc.max_end_days is None
    assert nsclc.sexes == {"female", "male"} and nsclc.phases == {"PHASE3"}
    assert nsclc.study_type == "INTERVENTIONAL"
    assert accepts(Ask(age=80, sex="female", phases=frozenset({"PHASE3"})), nsclc)
    assert not accepts(Ask(age=17), nsclc)
    observational = study_eligibility(summarize(record("NCT03475563")))
    assert observational.phases == {"NA"} and observational.study_type == "OBSERVATIONAL"


@pytest.mark.parametrize("name", real_record_names())
def test_eligibility_is_stated_when_a_record_says_who_can_join(name: str) -> None:
    data = record(name)
    module = data["protocolSection"].get("eligibilityModule", {})
    said = any(key in module for key in ("minimumAge", "maximumAge", "sex", "healthyVolunteers"))
    assert eligibility_stated(summarize(data)) == said


def test_a_minimum_past_the_maximum_says_nothing_of_ages() -> None:
    """A wrong record: taken as read, it hid the study from everyone who gave an age."""
    for minimum, maximum in (("65 Years", "18 Years"), ("1 Year", "11 Months")):
        for age in (0, 1, 18, 40, 65, 120):
            assert passes(Ask(age=age), study(minimum, maximum))
        assert not eligibility_stated(study(minimum, maximum))
        assert eligibility_stated(study(minimum, maximum, sex="ALL"))
    assert passes(Ask(age=1), study("1 Year", "12 Months"))  # one age fits: still read
    assert not passes(Ask(age=2), study("1 Year", "12 Months"))


def test_eligibility_is_not_stated_without_data() -> None:
    assert not eligibility_stated({})
    assert not eligibility_stated(study())
    assert not eligibility_stated(study("N/A", "N/A"))
    assert eligibility_stated(study(maximum="65 Years"))
    assert eligibility_stated(study(healthy=False))


AGE_TEXTS = st.builds(
    lambda number, unit: f"{number} {unit}s",
    st.integers(0, 1600),
    st.sampled_from(sorted(UNIT_DAYS)),
)


@given(
    age=st.integers(0, 120),
    minimum=st.none() | AGE_TEXTS,
    maximum=st.none() | AGE_TEXTS,
)
def test_the_whole_year_check_is_the_overlap_of_the_spans_in_days(
    age: int, minimum: str | None, maximum: str | None
) -> None:
    person, low, high = years_span(age), parse_age(minimum), parse_age(maximum)
    if low is not None and high is not None and low.start >= high.end:
        low = high = None  # a minimum past the maximum says nothing
    overlaps = (low is None or low.start < person.end) and (high is None or person.start < high.end)
    assert passes(Ask(age=age), study(minimum, maximum)) == overlaps


@given(
    ask=st.builds(
        Ask,
        age=st.none() | st.integers(0, 120),
        sex=st.sampled_from([None, "female", "male"]),
        healthy_volunteers=st.sampled_from([None, True]),
        phases=st.frozensets(st.sampled_from(["PHASE1", "PHASE2", "PHASE3", "NA"]), max_size=2),
        study_types=st.frozensets(st.sampled_from(["INTERVENTIONAL", "OBSERVATIONAL"]), max_size=1),
    ),
    minimum=st.none() | AGE_TEXTS,
    sex=st.sampled_from([None, "ALL", "FEMALE", "MALE"]),
    healthy=st.sampled_from([None, True, False]),
    phases=st.none() | st.lists(st.sampled_from(["PHASE1", "PHASE2", "PHASE3"]), max_size=2),
    study_type=st.sampled_from([None, "INTERVENTIONAL", "OBSERVATIONAL"]),
)
def test_accepts_is_refused_by_nothing(
    ask: Ask,
    minimum: str | None,
    sex: str | None,
    healthy: bool | None,
    phases: list[str] | None,
    study_type: str | None,
) -> None:
    design = {"study_type": study_type} | ({} if phases is None else {"phases": phases})
    parsed = study_eligibility(study(minimum, None, sex, healthy, **design))
    assert accepts(ask, parsed) == (refused_by(ask, parsed) == [])


def test_a_combination_read_before_is_the_same_answer_and_odd_values_are_still_read() -> None:
    """Eligibility is worked out once per combination of fields, whatever the summary."""
    first = study_eligibility(study("18 Years", "65 Years", "FEMALE", True, phases=["PHASE2"]))
    again = study_eligibility(study("18 Years", "65 Years", "FEMALE", True, phases=["PHASE2"]))
    assert again is first and (first.youngest, first.oldest) == (18, 65)
    # 1 is no answer to healthyVolunteers, though it equals True as a key would see it.
    assert study_eligibility(study(healthy=True)).healthy_volunteers is True
    assert study_eligibility({"eligibility": {"healthyVolunteers": 1}}).healthy_volunteers is None
    odd = study_eligibility({"eligibility": {"sex": ["FEMALE"]}, "phases": [["PHASE2"], "PHASE3"]})
    assert odd.sexes is None and odd.phases == {"PHASE3"}
    assert study_eligibility({"phases": "PHASE2"}).phases is None  # not a list: not known
