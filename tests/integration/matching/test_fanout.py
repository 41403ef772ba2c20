"""Matching on real databases: labelled cases end to end, newly-matching, follows, fan-out."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.pipeline_helpers import notifications_by_email, publish_at, subscribe
from tests.support import event, record, with_changes
from tests.unit.matching.test_matching import RECORDS
from worker.core.models import Notification
from worker.core.runtime import Runtime
from worker.matching.criteria_index import criteria_index_of
from worker.queue.pipeline import match_batch

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 2, 9, tzinfo=UTC)
T2 = datetime(2026, 6, 3, 9, tzinfo=UTC)


def condition(email: str, term: str, **extra: str) -> dict[str, str]:
    return {"email": email, "kind": "condition", "condition": term, **extra}


def follow(email: str, nct_id: str, **extra: str) -> dict[str, str]:
    return {"email": email, "kind": "study", "nct_id": nct_id, **extra}


def test_the_labelled_registry_cases_hold_end_to_end(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [condition(f"case{i}@example.org", term) for i, (_, term, _, _) in enumerate(RECORDS)],
    )
    names = sorted({name for _, _, name, _ in RECORDS})
    publish_at(runtime, stub_broker, T0, [event(record(n), f"e-{n}") for n in names])
    found = notifications_by_email(runtime)
    for i, (label, _, name, expected) in enumerate(RECORDS):
        nct_id = record(name)["protocolSection"]["identificationModule"]["nctId"]
        got = (nct_id, "new_study") in found.get(f"case{i}@example.org", [])
        assert got is expected, label


def _oropharyngeal(status: str = "NOT_YET_RECRUITING", italy: bool = False) -> dict:
    data = record("NCT02576665.partial")
    data["protocolSection"]["identificationModule"]["nctId"] = "NCT09000001"
    data["protocolSection"]["conditionsModule"] = {"conditions": ["Oropharyngeal Carcinoma"]}
    data["protocolSection"]["statusModule"].update(
        overallStatus=status, lastUpdateSubmitDate="2026-06-01"
    )
    sites = [{"facility": "Hospital", "city": "Lyon", "country": "France", "status": status}]
    if italy:
        sites.append(
            {
                "facility": "Fondazione CNAO",
                "city": "Pavia",
                "country": "Italy",
                "status": "RECRUITING",
                "geoPoint": {"lat": 45.19, "lon": 9.16},
            }
        )
    data["protocolSection"]["contactsLocationsModule"] = {"locations": sites}
    data["derivedSection"] = {
        "conditionBrowseModule": {
            "meshes": [{"id": "D009959", "term": "Oropharyngeal Neoplasms"}],
            "ancestors": [
                {"id": "D010610", "term": "Pharyngeal Neoplasms"},
                {"id": "D006258", "term": "Head and Neck Neoplasms"},
                {"id": "D009369", "term": "Neoplasms"},
            ],
        }
    }
    return data


def test_a_study_newly_matching_after_an_update_fires_once(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [
            condition(
                "ada@example.org", "head and neck cancer", statuses="RECRUITING", countries="Italy"
            ),
            condition("bob@example.org", "head and neck cancer"),
        ],
    )
    publish_at(runtime, stub_broker, T0, event(_oropharyngeal(), "v1"))
    assert notifications_by_email(runtime) == {"bob@example.org": [("NCT09000001", "new_study")]}
    recruiting = _oropharyngeal("RECRUITING", italy=True)
    recruiting["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-06-02"
    publish_at(runtime, stub_broker, T1, event(recruiting, "v2"))
    assert notifications_by_email(runtime)["ada@example.org"] == [("NCT09000001", "status")]
    later = copy.deepcopy(recruiting)
    later["protocolSection"]["contactsLocationsModule"]["locations"][0]["status"] = "RECRUITING"
    later["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-06-03"
    publish_at(runtime, stub_broker, T2, event(later, "v3"))
    found = notifications_by_email(runtime)
    assert found["ada@example.org"] == [("NCT09000001", "status")]
    assert found["bob@example.org"] == [("NCT09000001", "new_study")]


def test_a_study_that_stops_matching_can_newly_match_again(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime, [condition("ada@example.org", "head and neck cancer", statuses="RECRUITING")]
    )
    steps = [
        ("RECRUITING", "2026-06-01"),
        ("SUSPENDED", "2026-06-02"),
        ("RECRUITING", "2026-06-03"),
    ]
    for number, (status, day) in enumerate(steps):
        data = _oropharyngeal(status)
        data["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = day
        publish_at(runtime, stub_broker, T0, event(data, f"s{number}"))
    assert notifications_by_email(runtime)["ada@example.org"] == [
        ("NCT09000001", "new_study"),
        ("NCT09000001", "status"),
    ]


def test_head_injury_and_neck_pain_never_combine(runtime: Runtime, stub_broker: StubBroker) -> None:
    subscribe(runtime, [condition("ada@example.org", "head and neck cancer")])
    data = _oropharyngeal()
    data["protocolSection"]["conditionsModule"] = {
        "conditions": ["Head Injury", "Neck Pain", "Cancer Survivors"]
    }
    del data["derivedSection"]
    publish_at(runtime, stub_broker, T0, event(data, "h1"))
    assert notifications_by_email(runtime) == {}


def test_study_follows_fire_on_each_significant_change_only(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [follow("ada@example.org", "NCT03475563")])
    original = record("NCT03475563")
    publish_at(runtime, stub_broker, T0, event(original, "f1"))
    only_dates = with_changes(
        original, lastUpdateSubmitDate="2026-06-02", statusVerifiedDate="2026-06"
    )
    publish_at(runtime, stub_broker, T1, event(only_dates, "f2"))
    completed = with_changes(
        only_dates, overallStatus="COMPLETED", lastUpdateSubmitDate="2026-06-03"
    )
    completed["hasResults"] = True
    publish_at(runtime, stub_broker, T2, event(completed, "f3"))
    assert notifications_by_email(runtime) == {
        "ada@example.org": [
            ("NCT03475563", "new_study"),
            ("NCT03475563", "status"),
            ("NCT03475563", "results_posted"),
        ]
    }


def test_one_notification_per_change_names_every_matching_subscription(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [
            condition("ada@example.org", "lung cancer", frequency="weekly"),
            condition("ada@example.org", "non-small cell lung cancer"),
            follow("ada@example.org", "NCT04267848", frequency="instant"),
        ],
    )
    publish_at(runtime, stub_broker, T0, event(record("NCT04267848"), "l1"))
    with runtime.sessions() as session:
        [row] = session.scalars(select(Notification)).all()
    assert len(row.subscription_ids) == 3 and row.frequency == "instant"


def test_a_removed_study_notifies_followers_and_is_new_when_it_returns(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(
        runtime,
        [follow("ada@example.org", "NCT04267848"), condition("bob@example.org", "lung cancer")],
    )
    publish_at(runtime, stub_broker, T0, event(record("NCT04267848"), "r1"))
    publish_at(
        runtime,
        stub_broker,
        T1,
        event(
            None,
            "r2",
            type="gov.clinicaltrials.study.removed",
            subject="NCT04267848",
            time="2026-07-01T09:00:00Z",
        ),
    )
    found = notifications_by_email(runtime)
    assert found["ada@example.org"][-1] == ("NCT04267848", "removed")
    assert found["bob@example.org"] == [("NCT04267848", "new_study")]
    publish_at(
        runtime, stub_broker, T2, event(record("NCT04267848"), "r3", time="2026-07-02T09:00:00Z")
    )
    found = notifications_by_email(runtime)
    assert found["bob@example.org"] == [("NCT04267848", "new_study")] * 2


def test_matching_the_same_events_again_adds_nothing(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("bob@example.org", "lung cancer")])
    publish_at(runtime, stub_broker, T0, event(record("NCT04267848"), "m1"))
    before = notifications_by_email(runtime)
    from worker.core.models import ReceivedEvent

    with runtime.sessions() as session:
        pks = list(session.scalars(select(ReceivedEvent.id)))
    match_batch(pks)
    assert notifications_by_email(runtime) == before


def test_subscriptions_added_while_running_are_seen_by_the_next_batch(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("bob@example.org", "atopic dermatitis")])
    publish_at(runtime, stub_broker, T0, event(record("NCT02210780"), "a1"))
    assert len(criteria_index_of(runtime)) == 1  # warm: later batches only read new criteria
    subscribe(runtime, [condition("eve@example.org", "lung cancer")])
    publish_at(runtime, stub_broker, T1, event(record("NCT04267848"), "a2"))
    assert notifications_by_email(runtime) == {
        "bob@example.org": [("NCT02210780", "new_study")],
        "eve@example.org": [("NCT04267848", "new_study")],
    }
