"""Eligibility and design filters in matching, on both databases, with real records.

NCT02210780: atopic dermatitis, 18 to 64 years, no healthy volunteers, phase 2.
NCT00973089: dental caries, 5 to 8 years, healthy volunteers, phase NA, withdrawn.
NCT03475563: coronary artery disease, observational (no phase), 18 years and over.
NCT04267848: non-small cell lung cancer, 18 years and over, phase 3, 1,148 sites.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from tests.integration.matching.test_fanout import condition, follow
from tests.integration.pipeline_helpers import notifications_by_email, publish_at, subscribe
from tests.support import event, record, with_changes
from worker.core.models import Criteria
from worker.core.runtime import Runtime

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 2, 9, tzinfo=UTC)
ANCHORAGE = "61.21806,-149.90028,25"  # a site of NCT04267848


def test_each_filter_keeps_only_the_studies_it_accepts(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    dermatitis, caries, coronary = "atopic dermatitis", "dental caries", "coronary artery disease"
    subscribe(
        runtime,
        [
            condition("forty@example.org", dermatitis, age="40"),
            condition("seventy@example.org", dermatitis, age="70"),
            condition("sixtyfour@example.org", dermatitis, age="64"),
            condition("phase3@example.org", dermatitis, phases="PHASE3"),
            condition(
                "woman@example.org",
                dermatitis,
                sex="female",
                study_types="INTERVENTIONAL",
                phases="PHASE2;PHASE3",
            ),
            condition("healthy@example.org", dermatitis, healthy_volunteers="true"),
            condition("child@example.org", caries, age="6", healthy_volunteers="true"),
            condition("adult@example.org", caries, age="30"),
            condition("drugtrial@example.org", coronary, phases="PHASE3"),
            condition("cohort@example.org", coronary, phases="NA", study_types="observational"),
        ],
    )
    names = ["NCT02210780", "NCT00973089", "NCT03475563"]
    publish_at(runtime, stub_broker, T0, [event(record(n), f"e-{n}") for n in names])
    assert sorted(notifications_by_email(runtime)) == [
        "child@example.org",
        "cohort@example.org",
        "forty@example.org",
        "sixtyfour@example.org",
        "woman@example.org",
    ]


def test_a_study_that_widens_its_ages_newly_matches_who_it_now_takes(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [
            condition("forty@example.org", "atopic dermatitis", age="40"),
            condition("seventy@example.org", "atopic dermatitis", age="70"),
            follow("follower@example.org", "NCT02210780"),
        ],
    )
    publish_at(runtime, stub_broker, T0, event(record("NCT02210780"), "v1"))
    older = with_changes(record("NCT02210780"), lastUpdateSubmitDate="2026-06-02")
    older["protocolSection"]["eligibilityModule"]["maximumAge"] = "80 Years"
    older["protocolSection"]["designModule"]["phases"] = ["PHASE2", "PHASE3"]
    publish_at(runtime, stub_broker, T1, event(older, "v2"))
    found = notifications_by_email(runtime)
    assert found["forty@example.org"] == [("NCT02210780", "new_study")]
    assert found["seventy@example.org"] == [("NCT02210780", "eligibility")]
    assert sorted(found["follower@example.org"]) == [
        ("NCT02210780", "design"),
        ("NCT02210780", "eligibility"),
        ("NCT02210780", "new_study"),
    ]


def test_near_and_eligibility_filters_hold_together(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [
            condition("adult@example.org", "lung cancer", near=ANCHORAGE, age="30"),
            condition("minor@example.org", "lung cancer", near=ANCHORAGE, age="17"),
            condition("phase2@example.org", "lung cancer", near=ANCHORAGE, phases="PHASE2"),
            condition("far@example.org", "lung cancer", near="45.46,9.19,25", age="30"),
        ],
    )
    publish_at(runtime, stub_broker, T0, event(record("NCT04267848"), "e1"))
    assert notifications_by_email(runtime) == {"adult@example.org": [("NCT04267848", "new_study")]}


def test_subscribers_asking_the_same_share_one_criteria_and_another_age_is_another(
    runtime: Runtime,
) -> None:
    subscribe(
        runtime,
        [
            condition("a@example.org", "lung cancer", age="40", phases="phase 3;Phase2"),
            condition("b@example.org", "Lung Cancers", age="40", phases="PHASE2;PHASE3"),
            condition("c@example.org", "lung cancer", age="41", phases="PHASE2;PHASE3"),
            condition("d@example.org", "lung cancer"),
        ],
    )
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Criteria)) == 3
        ages = session.execute(select(Criteria.age, Criteria.phases).order_by(Criteria.id)).all()
    assert [tuple(row) for row in ages] == [
        (40, ["PHASE2", "PHASE3"]),
        (41, ["PHASE2", "PHASE3"]),
        (None, None),
    ]
