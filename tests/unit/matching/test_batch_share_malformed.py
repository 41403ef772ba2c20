"""Sharing filter verdicts across a batch (`BatchShare.verdicts`) must never change a decision.

Nor may working out what the verdicts are shared by (status, countries,
eligibility) raise where matching the study alone did not: one study that
raises stops its whole batch (worker/matching/fanout.py, `_match_events`).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.matching.conditions import Filters, filters_pass, study_concepts
from worker.matching.criteria_index import BatchShare, CriteriaIndex, TermCandidates, _by_age

PARTS = [
    Filters(),
    Filters(statuses=frozenset({"RECRUITING"})),
    Filters(countries=frozenset({"Italy"})),
    Filters(statuses=frozenset({"COMPLETED", "RECRUITING"}), countries=frozenset({"spain"})),
    Filters(sex="female"),
    Filters(sex="male"),
    Filters(healthy_volunteers=True),
    Filters(phases=frozenset({"PHASE1"})),
    Filters(phases=frozenset({"NA"})),
    Filters(study_types=frozenset({"INTERVENTIONAL"})),
    Filters(sex="female", phases=frozenset({"PHASE2"}), study_types=frozenset({"OBSERVATIONAL"})),
]


def _index() -> CriteriaIndex:
    index = CriteriaIndex()
    index.parts.extend(PARTS)
    return index


@pytest.mark.parametrize("country", [["Italy"], {"name": "Italy"}])
def test_a_site_country_no_filter_reads_does_not_stop_the_matching(country: Any) -> None:
    """No criteria filters on country: the study matches alone, and must match in a batch too.

    Alone, only a criteria with a countries filter reads the study's
    countries; shared, every matching study's countries are read to look its
    verdicts up, so a country that is not a string (a list, an object) must
    read as no country, not raise.
    """
    index = _index()
    term = TermCandidates(frozenset({"melanoma"}), {(0, 0): [1], (1, 4): [2]})
    summary = {
        "conditions": ["Melanoma"],
        "status": "RECRUITING",
        "eligibility": {"sex": "FEMALE"},
        "sites": [{"country": country, "lat": 45.46, "lon": 9.19}],
    }
    alone = sorted(index.matching_ids([term], study_concepts(summary), None))
    assert alone == [1, 2]
    shared = index.matching_ids([term], study_concepts(summary), BatchShare())
    assert sorted(shared) == alone


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 200),
    st.floats(allow_nan=True),
    st.sampled_from(
        ["", " ", "ALL", "female", "MALE", "Female ", "18 Years", "65 years", "6 Months", "N/A"]
        + ["PHASE1", "phase2", "NA", "INTERVENTIONAL", "observational", "Italy", "italy ", "ITALY"]
        + ["Spain", "RECRUITING", "recruiting ", "\u0660 Years", "0 Minutes", "70 Years"]
    ),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "sex", "minimumAge"]), inner, max_size=2),
    ),
    max_leaves=4,
)
# Countries of scalar types here: the test above takes the unhashable ones.
_site = st.one_of(
    st.fixed_dictionaries(
        {"country": _scalars}, optional={"lat": _scalars, "lon": _scalars, "status": _json}
    ),
    _json,
)
_summaries = st.fixed_dictionaries(
    {"conditions": st.just(["melanoma"])},
    optional={
        "status": _json,
        "sites": st.one_of(st.lists(_site, max_size=4), _json),
        "eligibility": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "minimumAge": _json,
                    "maximumAge": _json,
                    "sex": _json,
                    "healthyVolunteers": _json,
                },
            ),
            _json,
        ),
        "phases": _json,
        "study_type": _json,
    },
)
_criteria = st.lists(
    st.tuples(
        st.integers(0, len(PARTS) - 1),
        st.integers(0, len(PARTS) - 1),
        st.one_of(st.none(), st.integers(0, 100)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(_summaries, min_size=1, max_size=10), criteria=_criteria)
def test_malformed_studies_sharing_verdicts_decide_as_matched_alone(
    batch: list[dict[str, Any]], criteria: list[tuple[int, int, int | None]]
) -> None:
    """Summaries of any shape, many alike in status, countries and eligibility, one share."""
    index = _index()
    plain: dict[tuple[int, int], list[int]] = {}
    aged: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for number, (place, ask, age) in enumerate(criteria):
        if age is None:
            plain.setdefault((place, ask), []).append(number)
        else:
            aged.setdefault((place, ask), []).append((age, number))
    by_age = {pair: _by_age(found) for pair, found in aged.items()}
    term = TermCandidates(frozenset({"melanoma"}), plain, by_age=by_age)
    share = BatchShare()
    for summary in batch:
        try:
            alone = sorted(index.matching_ids([term], study_concepts(summary), None))
        except TypeError:
            continue  # not a study matching reads (study_concepts raises on it): not shared
        study = study_concepts(summary)
        assert sorted(index.matching_ids([term], study, share)) == alone
        verdicts = share.verdicts(index.parts, study)
        assert [verdicts[n] for n in range(len(PARTS))] == [filters_pass(p, study) for p in PARTS]
