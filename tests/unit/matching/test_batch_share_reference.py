"""A batch's matchings sharing their work (`BatchShare`) decide as checking every criteria.

Matching keeps, per distinct set of site points in a batch, whether a site
lies in each circle (`_Sites.found`) and, per term, the circles its sites met
(`_Sites.met`), for the batch's other studies with the same points: an
update's previous snapshot, or another study listing the same sites.  It
keeps the verdicts on the filter parts for the batch's studies with the same
status, countries and eligibility.  Those studies differ in status,
countries and eligibility, the criteria cache may
be refreshed in the middle of the batch (new term objects), and the batch may
come in any order: whatever was shared, each study's criteria must be those
whose every filter it passes (`filters_pass` on the whole Filters, near and
age included), as matching it alone (shared=None) finds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from worker.core.models import Criteria
from worker.matching.conditions import Filters, StudyConcepts, filters_pass, index_key
from worker.matching.criteria_index import BatchShare, CriteriaIndex

TERMS = [frozenset({"melanoma"}), frozenset({"lung", "cancer"}), frozenset({"glioma"})]
STATUSES = ["RECRUITING", "COMPLETED", "NOT_YET_RECRUITING"]
COUNTRIES = ["Italy", "Spain"]
CENTRES = [(45.46, 9.19), (41.39, 2.17), (0.0, 179.9), (89.5, 10.0), (-33.9, 151.2)]

radii = st.one_of(st.sampled_from([1.0, 25.0, 50.0, 150.0, 600.0, 20000.0]), st.floats(0.5, 3000))
criteria_rows = st.fixed_dictionaries(
    {
        "term": st.integers(0, len(TERMS) - 1),
        "statuses": st.sets(st.sampled_from(STATUSES), max_size=2),
        "countries": st.sets(st.sampled_from(COUNTRIES), max_size=1),
        "near": st.one_of(
            st.none(),
            st.tuples(st.integers(0, len(CENTRES) - 1), st.floats(-1, 1), st.floats(-1, 1), radii),
        ),
        "age": st.one_of(st.none(), st.integers(0, 90)),
        "sex": st.sampled_from([None, "female", "male"]),
        "healthy": st.sampled_from([None, True]),
        "phases": st.sets(st.sampled_from(["PHASE1", "PHASE2"]), max_size=1),
        "types": st.sets(st.sampled_from(["INTERVENTIONAL", "OBSERVATIONAL"]), max_size=1),
    }
)
sites = st.tuples(
    st.integers(0, len(CENTRES) - 1),
    st.floats(-2, 2),
    st.floats(-2, 2),
    st.sampled_from(COUNTRIES),
)
studies = st.fixed_dictionaries(
    {
        "places": st.integers(0, 3),  # which of the batch's site sets
        "status": st.sampled_from(STATUSES),
        "ages": st.sampled_from([(None, None), ("18 Years", "65 Years"), ("70 Years", None)]),
        "sex": st.sampled_from(["ALL", "FEMALE", "MALE", None]),
        "healthy": st.sampled_from([True, False, None]),
        "phases": st.sampled_from([None, ["PHASE1"], ["PHASE2", "PHASE3"]]),
        "type": st.sampled_from([None, "INTERVENTIONAL", "OBSERVATIONAL"]),
        # the previous snapshot: the same sites, another status and eligibility
        "before": st.tuples(st.sampled_from(STATUSES), st.sampled_from(["ALL", "MALE"])),
    }
)


def _point(centre: int, dlat: float, dlon: float) -> tuple[float, float]:
    lat, lon = CENTRES[centre]
    return min(90.0, max(-90.0, lat + dlat)), (lon + dlon + 180) % 360 - 180


def _row(number: int, drawn: dict[str, Any]) -> dict[str, Any]:
    words = TERMS[drawn["term"]]
    near = _point(*drawn["near"][:3]) + (drawn["near"][3],) if drawn["near"] else (None,) * 3
    return {
        "id": number,
        "signature": str(number),
        "words": " ".join(sorted(words)),
        "match_key": index_key(words),
        "statuses": sorted(drawn["statuses"]),
        "countries": sorted(drawn["countries"]),
        "near_lat": near[0],
        "near_lon": near[1],
        "near_km": near[2],
        "age": drawn["age"],
        "sex": drawn["sex"],
        "healthy_volunteers": drawn["healthy"],
        "phases": sorted(drawn["phases"]),
        "study_types": sorted(drawn["types"]),
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


def _filters(row: dict[str, Any]) -> Filters:
    near = row["near_lat"], row["near_lon"], row["near_km"]
    return Filters(
        statuses=frozenset(row["statuses"]),
        countries=frozenset(row["countries"]),
        near=None if near[0] is None else near,
        age=row["age"],
        sex=row["sex"],
        healthy_volunteers=row["healthy_volunteers"],
        phases=frozenset(row["phases"]),
        study_types=frozenset(row["study_types"]),
    )


def _study(
    site_list: list[tuple[float, float, str]], drawn: dict[str, Any], status: str, sex: Any
) -> StudyConcepts:
    minimum, maximum = drawn["ages"]
    eligibility = {"minimumAge": minimum, "maximumAge": maximum, "sex": sex}
    eligibility["healthyVolunteers"] = drawn["healthy"]
    summary = {"eligibility": eligibility, "phases": drawn["phases"], "study_type": drawn["type"]}
    return StudyConcepts(
        concepts=tuple(TERMS),
        status=status,
        sites=tuple({"lat": lat, "lon": lon, "country": c} for lat, lon, c in site_list),
        summary=summary,
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(criteria_rows, min_size=1, max_size=40),
    later=st.lists(criteria_rows, max_size=15),
    site_sets=st.lists(st.lists(sites, min_size=1, max_size=12), min_size=1, max_size=4),
    batch=st.lists(studies, min_size=1, max_size=8),
    refresh_at=st.integers(0, 8),
    order=st.randoms(use_true_random=False),
)
def test_a_batch_sharing_site_sets_matches_as_checking_every_criteria_and_site(
    first: list[dict[str, Any]],
    later: list[dict[str, Any]],
    site_sets: list[list[tuple[int, float, float, str]]],
    batch: list[dict[str, Any]],
    refresh_at: int,
    order: Any,
) -> None:
    rows = [_row(number, drawn) for number, drawn in enumerate(first + later, start=1)]
    engine = create_engine("sqlite://")
    Criteria.metadata.tables["criteria"].create(engine)
    index = CriteriaIndex()
    lists = [[(*_point(*site[:3]), site[3]) for site in chosen] for chosen in site_sets]
    events = [(_study(lists[d["places"] % len(lists)], d, d["status"], d["sex"]), d) for d in batch]
    order.shuffle(events)
    with Session(engine) as session:

        def load(more: list[dict[str, Any]]) -> None:
            if more:
                session.execute(insert(Criteria), more)
            index.refresh(session)  # new term objects; the old ones freed unless held

        load(rows[: len(first)])
        loaded = len(first)
        share = BatchShare()
        seen: list[tuple[StudyConcepts, int, list[Any]]] = []
        for position, (study, drawn) in enumerate(events):
            if position == refresh_at and loaded < len(rows):
                load(rows[loaded:])
                loaded = len(rows)
            terms = index.candidates(study.words)
            shared = index.matching_ids(terms, study, share)
            assert len(shared) == len(set(shared))
            expected = {row["id"] for row in rows[:loaded] if filters_pass(_filters(row), study)}
            assert set(shared) == expected
            assert set(index.matching_ids(terms, study, None)) == expected
            seen.append((study, loaded, terms))
            status, sex = drawn["before"]
            site_list = lists[drawn["places"] % len(lists)]
            seen.append((_study(site_list, drawn, status, sex), loaded, terms))
        # The previous snapshots, after every event (as match_events does), the same share.
        for study, count, terms in seen[1::2]:
            shared = index.matching_ids(terms, study, share)
            expected = {row["id"] for row in rows[:count] if filters_pass(_filters(row), study)}
            assert sorted(shared) == sorted(expected)
    engine.dispose()


def _alike(status: str, country: str, sex: str, lat: float) -> StudyConcepts:
    return StudyConcepts(
        concepts=(frozenset({"melanoma"}),),
        status=status,
        sites=({"lat": lat, "lon": 9.19, "country": country},),
        summary={"eligibility": {"sex": sex}},
    )


def test_studies_alike_in_what_the_filter_parts_read_share_their_verdicts() -> None:
    """Status, countries and eligibility: studies alike in those (not in sites) share verdicts."""
    index = CriteriaIndex()
    index.parts.extend(
        [
            Filters(statuses=frozenset({"RECRUITING"})),
            Filters(countries=frozenset({"Italy"})),
            Filters(sex="female"),
        ]
    )
    share = BatchShare()
    verdicts = share.verdicts(index.parts, _alike("RECRUITING", "Italy", "FEMALE", 45.46))
    assert [verdicts[part] for part in range(3)] == [True, True, True]
    assert share.verdicts(index.parts, _alike("RECRUITING", "Italy", "FEMALE", 41.9)) is verdicts
    unlike = [
        _alike("COMPLETED", "Italy", "FEMALE", 45.46),
        _alike("RECRUITING", "Spain", "FEMALE", 45.46),
        _alike("RECRUITING", "Italy", "MALE", 45.46),
    ]
    for part, study in enumerate(unlike):
        judged = share.verdicts(index.parts, study)
        assert judged is not verdicts and judged[part] is False
    other_index = CriteriaIndex()
    other_index.parts.extend(index.parts)
    mine = _alike("RECRUITING", "Italy", "FEMALE", 45.46)
    assert share.verdicts(other_index.parts, mine) is not verdicts
