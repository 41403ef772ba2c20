""" "A site opened near you" on real databases, through publish, ingest and matching.

NCT03475563 (coronary artery disease) recruits at three Spanish sites: Sabadell,
Barcelona (Vall d'Hebron) and León.  Its later versions add sites and change
their statuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.matching.test_fanout import condition, follow
from tests.integration.pipeline_helpers import notifications_by_email, publish_at, subscribe
from tests.support import event, record
from worker.core.models import Notification, StudyChange, Subscriber
from worker.core.runtime import Runtime

NCT = "NCT03475563"
T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 2, 9, tzinfo=UTC)
T2 = datetime(2026, 6, 3, 9, tzinfo=UTC)
T3 = datetime(2026, 6, 4, 9, tzinfo=UTC)
BARCELONA = "41.3874,2.1686,30"
MADRID = "40.4168,-3.7038,50"
LEON = "42.5987,-5.5671,30"
DEL_MAR = "Hospital del Mar, Barcelona, Spain"
LA_PAZ = "Hospital Universitario La Paz, Madrid, Spain"


def _site(facility: str, city: str, status: str | None, lat: float, lon: float) -> dict[str, Any]:
    site: dict[str, Any] = {"facility": facility, "city": city, "country": "Spain"}
    if status is not None:
        site["status"] = status
    return {**site, "geoPoint": {"lat": lat, "lon": lon}}


DEL_MAR_SITE = ("Hospital del Mar", "Barcelona", 41.3847, 2.1935)
LA_PAZ_SITE = ("Hospital Universitario La Paz", "Madrid", 40.4810, -3.6870)
GIRONA_SITE = ("Hospital Universitari de Girona Doctor Josep Trueta", "Girona", 41.9794, 2.8214)
GRANOLLERS_SITE = ("Hospital General de Granollers", "Granollers", 41.6079, 2.2873)


def version(day: str, *added: dict[str, Any], statuses: dict[str, str] | None = None) -> Any:
    """The real record, last updated on `day`, with sites added and site statuses changed."""
    data = record(NCT)
    data["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = day
    locations = data["protocolSection"]["contactsLocationsModule"]["locations"]
    for location in locations:
        if location["city"] in (statuses or {}):
            location["status"] = (statuses or {})[location["city"]]
    locations += added
    return data


def _subscribers(runtime: Runtime) -> None:
    subscribe(
        runtime,
        [
            condition("ada@example.org", "coronary artery disease", near=BARCELONA),
            condition("bob@example.org", "coronary artery disease", near=MADRID),
            condition("carl@example.org", "coronary artery disease", near=LEON),
            condition("dora@example.org", "coronary artery disease"),
            follow("eve@example.org", NCT),
            condition("eve@example.org", "heart disease", near=BARCELONA),
        ],
    )


def _notes(runtime: Runtime) -> dict[str, list[tuple[str, str | None, Any]]]:
    """email → [(change kind, change field, near_site)] of every notification, oldest first."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, StudyChange.kind, StudyChange.field, Notification.near_site)
            .join(Subscriber, Subscriber.id == Notification.subscriber_id)
            .join(StudyChange, StudyChange.id == Notification.change_id)
            .order_by(Notification.id)
        )
        found: dict[str, list[tuple[str, str | None, Any]]] = {}
        for email, kind, field, near_site in rows:
            found.setdefault(email, []).append((kind, field, near_site))
        return found


def test_a_site_added_within_the_radius_of_a_study_already_matched_fires_naming_it(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    _subscribers(runtime)
    publish_at(runtime, stub_broker, T0, event(record(NCT), "v1"))
    before = notifications_by_email(runtime)
    assert set(before) == {
        "ada@example.org",
        "carl@example.org",
        "dora@example.org",
        "eve@example.org",
    }

    added = [
        _site(*DEL_MAR_SITE[:2], "RECRUITING", *DEL_MAR_SITE[2:]),
        _site(*LA_PAZ_SITE[:2], "RECRUITING", *LA_PAZ_SITE[2:]),
        _site(*GIRONA_SITE[:2], "RECRUITING", *GIRONA_SITE[2:]),  # 85 km from Barcelona
    ]
    publish_at(runtime, stub_broker, T1, event(version("2026-06-02", *added), "v2"))
    notes = _notes(runtime)

    [(kind, field, ada_site)] = notes["ada@example.org"][1:]
    assert (kind, field) == ("site_added", DEL_MAR)
    assert ada_site == {
        "why": "opened",
        "facility": "Hospital del Mar",
        "city": "Barcelona",
        "state": "",
        "country": "Spain",
        "km": 2.1,
    }
    # Bob's Madrid circle matches for the first time: a new match, naming the nearest site.
    [(kind, _, bob_site)] = notes["bob@example.org"]
    assert kind == "site_added"
    assert (bob_site["why"], bob_site["facility"], bob_site["km"]) == (
        "nearest",
        "Hospital Universitario La Paz",
        7.3,
    )
    assert len(notes["carl@example.org"]) == 1  # nothing opened near León
    assert len(notes["dora@example.org"]) == 1  # no near: sites are not news to her
    # Eve follows the study and watches Barcelona: one notification per change, the
    # one for Hospital del Mar naming it.
    eve = {field: site for kind, field, site in notes["eve@example.org"][1:]}
    assert set(eve) == {
        DEL_MAR,
        LA_PAZ,
        "Hospital Universitari de Girona Doctor Josep Trueta, Girona, Spain",
    }
    assert eve[DEL_MAR]["why"] == "opened" and eve[LA_PAZ] is None


def test_a_nearby_site_starting_to_recruit_fires_and_other_statuses_do_not(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("ada@example.org", "coronary artery disease", near=BARCELONA)])
    publish_at(runtime, stub_broker, T0, event(record(NCT), "v1"))
    planned = _site(*GRANOLLERS_SITE[:2], "NOT_YET_RECRUITING", *GRANOLLERS_SITE[2:])
    closed = _site(*DEL_MAR_SITE[:2], "WITHDRAWN", *DEL_MAR_SITE[2:])
    publish_at(runtime, stub_broker, T1, event(version("2026-06-02", planned, closed), "v2"))
    # Sabadell stops recruiting: no news; Granollers starts: news.
    recruiting = {**planned, "status": "RECRUITING"}
    v3 = version("2026-06-03", recruiting, closed, statuses={"Sabadell": "ACTIVE_NOT_RECRUITING"})
    publish_at(runtime, stub_broker, T2, event(v3, "v3"))
    # Sabadell recruits again: it opens to patients again, so it is news again.
    v4 = version("2026-06-04", recruiting, closed, statuses={"Sabadell": "RECRUITING"})
    publish_at(runtime, stub_broker, T3, event(v4, "v4"))

    granollers = "Hospital General de Granollers, Granollers, Spain"
    sabadell = "Hospital Universitari Parc Taulí, Sabadell, Spain"
    fired = [(kind, field, site["why"]) for kind, field, site in _notes(runtime)["ada@example.org"]]
    assert fired == [
        ("new_study", None, "nearest"),
        ("site_added", granollers, "opened"),
        ("site_status", granollers, "recruiting"),
        ("site_status", sabadell, "recruiting"),
    ]


def test_duplicate_and_out_of_order_events_open_nothing(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("ada@example.org", "coronary artery disease", near=BARCELONA)])
    publish_at(runtime, stub_broker, T0, event(record(NCT), "v1"))
    del_mar = _site(*DEL_MAR_SITE[:2], "RECRUITING", *DEL_MAR_SITE[2:])
    publish_at(runtime, stub_broker, T2, event(version("2026-06-03", del_mar), "v3"))
    publish_at(runtime, stub_broker, T2, event(version("2026-06-03", del_mar), "v3"))
    granollers = _site(*GRANOLLERS_SITE[:2], "RECRUITING", *GRANOLLERS_SITE[2:])
    late = event(version("2026-06-02", del_mar, granollers), "v2", time="2026-06-02T09:00:00Z")
    publish_at(runtime, stub_broker, T3, late)  # older than the snapshot: stale
    assert [kind for kind, _, _ in _notes(runtime)["ada@example.org"]] == [
        "new_study",
        "site_added",
    ]


def test_a_study_that_leaves_and_reenters_the_radius_is_a_new_match_not_an_opened_site(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("ada@example.org", "coronary artery disease", near=MADRID)])
    publish_at(runtime, stub_broker, T0, event(record(NCT), "v1"))
    assert _notes(runtime) == {}
    la_paz = _site(*LA_PAZ_SITE[:2], "RECRUITING", *LA_PAZ_SITE[2:])
    publish_at(runtime, stub_broker, T1, event(version("2026-06-02", la_paz), "v2"))
    publish_at(runtime, stub_broker, T2, event(version("2026-06-03"), "v3"))  # La Paz leaves
    publish_at(runtime, stub_broker, T3, event(version("2026-06-04", la_paz), "v4"))
    fired = [(kind, field, site["why"]) for kind, field, site in _notes(runtime)["ada@example.org"]]
    assert fired == [("site_added", LA_PAZ, "nearest"), ("site_added", LA_PAZ, "nearest")]
