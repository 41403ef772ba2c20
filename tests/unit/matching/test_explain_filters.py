"""`match explain` with filters: each filter judged alone, by the matcher's own rules."""

from __future__ import annotations

from tests.support import record
from worker.ingest.studies import summarize
from worker.matching.conditions import Filters, filters_pass, study_concepts
from worker.matching.explain import FilterVerdict, explain_filters

NSCLC = summarize(record("NCT04267848"))  # recruiting, 18 and over, phase 3, sites in the US
ANCHORAGE = (61.21806, -149.90028, 25.0)


def test_each_filter_is_named_with_what_the_study_says() -> None:
    filters = Filters(
        statuses=frozenset({"COMPLETED"}),
        countries=frozenset({"Italy"}),
        near=ANCHORAGE,
        age=17,
        sex="female",
        healthy_volunteers=True,
        phases=frozenset({"PHASE2"}),
        study_types=frozenset({"INTERVENTIONAL"}),
    )
    verdicts = {verdict.name: verdict for verdict in explain_filters(filters, NSCLC)}
    assert list(verdicts) == [
        "statuses",
        "countries",
        "sex",
        "age",
        "healthy_volunteers",
        "study_types",
        "phases",
        "near",
    ]
    assert verdicts["statuses"] == FilterVerdict("statuses", "COMPLETED", "RECRUITING", False)
    assert not verdicts["countries"].passed and "united states" in verdicts["countries"].found
    assert verdicts["age"] == FilterVerdict(
        "age", "17", "minimum 18 Years, maximum not stated", False
    )
    assert verdicts["sex"] == FilterVerdict("sex", "female", "ALL", True)
    assert verdicts["healthy_volunteers"] == FilterVerdict(
        "healthy_volunteers", "true", "false", False
    )
    assert verdicts["phases"] == FilterVerdict("phases", "PHASE2", "PHASE3", False)
    assert verdicts["study_types"].passed
    assert verdicts["near"].passed and verdicts["near"].found == "nearest site 0.0 km away"


def test_no_filters_no_verdicts_and_the_verdicts_agree_with_the_matcher() -> None:
    assert explain_filters(Filters(), NSCLC) == []
    study = study_concepts(NSCLC)
    for filters in (
        Filters(age=18, near=ANCHORAGE),
        Filters(age=17),
        Filters(near=(45.46, 9.19, 50.0)),
        Filters(statuses=frozenset({"RECRUITING"}), phases=frozenset({"PHASE3"})),
    ):
        verdicts = explain_filters(filters, NSCLC)
        assert all(verdict.passed for verdict in verdicts) == filters_pass(filters, study)


def test_a_study_that_says_nothing_is_said_so() -> None:
    summary = {"nct_id": "NCT00000001", "status": "RECRUITING", "sites": []}
    verdicts = explain_filters(Filters(age=40, phases=frozenset({"PHASE1"})), summary)
    assert [(v.name, v.found, v.passed) for v in verdicts] == [
        ("age", "not stated", True),
        ("phases", "not recorded (an older snapshot)", True),
    ]
