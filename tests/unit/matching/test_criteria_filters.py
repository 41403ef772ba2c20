"""Criteria carry the eligibility filters; the matcher runs them after the term, per study once."""

from __future__ import annotations

import json
import random

import pytest

from tests.support import record
from worker.ingest.studies import summarize
from worker.matching.conditions import (
    Filters,
    filters_pass,
    haversine_km,
    near_reach,
    study_concepts,
)
from worker.matching.criteria import CriteriaSpec, criteria_for
from worker.matching.criteria_index import NearCriteria, _Sites
from worker.subscriptions.rows import parse_row


def spec(**fields: str) -> CriteriaSpec:
    row = parse_row({"email": "ada@example.org", "kind": "condition", **fields})
    return criteria_for(row)


def test_a_criteria_without_eligibility_keeps_the_signature_it_always_had() -> None:
    plain = spec(condition="lung cancer", statuses="RECRUITING", countries="Italy")
    assert json.loads(plain.signature) == [plain.words, ["RECRUITING"], ["italy"], None]


def test_eligibility_is_part_of_the_signature_in_one_folded_form() -> None:
    asked = spec(condition="lung cancer", age="40", sex="Female", phases="phase 3;PHASE2")
    same = spec(condition="Lung Cancers", age="40", sex="female", phases="PHASE2;Phase 3")
    assert asked.signature == same.signature
    assert json.loads(asked.signature)[-1] == {
        "age": 40,
        "sex": "female",
        "healthy_volunteers": None,
        "phases": ["PHASE2", "PHASE3"],
        "study_types": [],
    }
    assert asked.signature != spec(condition="lung cancer", age="41").signature
    assert spec(condition="lung cancer", healthy_volunteers="false").signature == (
        spec(condition="lung cancer").signature
    )


def test_filters_fold_and_say_whether_they_ask_eligibility() -> None:
    assert not Filters(statuses=frozenset({"RECRUITING"})).asks_eligibility
    assert not Filters(healthy_volunteers=False).asks_eligibility
    asked = Filters(sex=" Female ", phases=frozenset({"phase2"}))
    assert asked.asks_eligibility and asked.sex == "female" and asked.phases == {"PHASE2"}
    assert asked == Filters(sex="female", phases=frozenset({"PHASE2"}))
    with pytest.raises(ValueError, match="age -1"):
        Filters(age=-1)
    with pytest.raises(TypeError):
        Filters(phases="PHASE2")  # type: ignore[arg-type]


def test_filters_pass_runs_the_eligibility_rules_on_the_study() -> None:
    study = study_concepts(summarize(record("NCT02210780")))  # 18-64 years, phase 2
    assert filters_pass(Filters(age=64, phases=frozenset({"PHASE2"})), study)
    assert not filters_pass(Filters(age=65), study)
    assert not filters_pass(Filters(statuses=frozenset({"COMPLETED"}), age=65), study)
    assert filters_pass(Filters(statuses=frozenset({"COMPLETED"}), sex="male"), study)


def test_a_study_parses_its_eligibility_once_and_only_when_asked() -> None:
    study = study_concepts(summarize(record("NCT02210780")))
    assert filters_pass(Filters(statuses=frozenset({"COMPLETED"})), study)
    assert "eligibility" not in study.__dict__
    filters_pass(Filters(age=30), study)
    first = study.__dict__["eligibility"]
    filters_pass(Filters(age=70), study)
    assert study.eligibility is first


def test_a_site_within_a_circle_is_found_by_band_or_by_cells_alike() -> None:
    """A study with sites across a continent looks in the circle's cells, not its whole band."""
    study = study_concepts(summarize(record("NCT04267848")))  # 1,148 sites
    sites = _Sites(study)
    rng = random.Random(3)
    centres = [*study.points[::40], (41.9, -40.0), (61.2, -149.9)]
    for lat, lon in centres:
        for km in (1.0, 25.0, 80.0, 400.0):
            lat_jitter, lon_jitter = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)
            centre = (lat + lat_jitter, lon + lon_jitter)
            circle = NearCriteria(*centre, km, *near_reach(centre[0], km), place=0, ask=0, id=1)
            brute = any(
                haversine_km(circle.lat, circle.lon, *point) <= km for point in study.points
            )
            assert sites.within(circle) == brute, (lat, lon, km)
