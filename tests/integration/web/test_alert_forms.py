"""The alert filters on the sign-up and preferences pages, through the WSGI app on real databases.

Both pages ask for an age, sex, healthy volunteers, phases, study types, a
place and a distance (km or miles), and judge them as an import row is
judged. A bad value is shown beside its input and saves nothing at all.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.integration.pipeline_helpers import subscribe
from tests.integration.web.test_unsubscribe import snapshot
from worker.core.models import Criteria, Signup, Subscriber, Subscription
from worker.core.runtime import Runtime, fixed_clock
from worker.core.tokens import preferences_token
from worker.queue.broker import drain
from worker.web.app import create_app

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
SIGNUP = {"email": "ada@example.org", "condition": "Lung cancer"}


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(NOW)
    return create_app(runtime).test_client()


def inline_errors(page: str) -> dict[str, str]:
    """Each input's message, by the input's id; the sign-up's summary as "signup"."""
    found = {
        name: html.unescape(text)
        for name, text in re.findall(r'<p class="field-error" id="([^"]+)-error">(.*?)</p>', page)
    }
    summary = re.search(r'id="signup-error">(.*?)</div>', page, re.DOTALL)
    if summary:
        found["signup"] = html.unescape(summary.group(1))
    return found


def _nothing_mailed(runtime: Runtime, broker: StubBroker) -> bool:
    drain(broker)
    return not list(Path(runtime.settings.outbox).glob("*.eml"))


def _signups(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Signup)) or 0


# -- sign-up -------------------------------------------------------------------


def test_the_form_offers_every_filter_with_words(client: FlaskClient) -> None:
    page = client.get("/signup").get_data(as_text=True)
    for words in (
        "Your age in years",
        "Only studies that take healthy volunteers",
        "Phase 2: does it work, is it safe",
        "Observational: researchers follow people",
        "A city with its country",
        '<option value="mi">miles</option>',
        '<option value="monthly">Monthly digest</option>',
    ):
        assert words in page, words
    assert 'name="near"' not in page and "latitude" not in page.lower()


def test_a_sign_up_with_a_place_and_an_age_is_recorded_in_km(
    runtime: Runtime, client: FlaskClient
) -> None:
    answer = client.post(
        "/signup",
        data={
            **SIGNUP,
            "age": "42",
            "sex": "female",
            "phases": ["PHASE2", "PHASE3"],
            "place": "Milano, Italy",
            "distance": "50",
            "unit": "mi",
        },
    )
    assert answer.status_code == 303
    with runtime.sessions() as session:
        [signup] = session.scalars(select(Signup)).all()
        recorded = (signup.age, signup.sex, signup.phases, signup.near_place, signup.near_km)
    assert recorded == (42, "female", ["PHASE2", "PHASE3"], "Milan, Italy", 80.467)


@pytest.mark.parametrize(
    ("inputs", "where", "words"),
    [
        ({"age": "-3"}, "age", "whole years from 0 to 120"),
        ({"age": "200"}, "age", "whole years from 0 to 120"),
        ({"age": "forty"}, "age", "whole years"),
        ({"sex": "other"}, "sex", "female, male"),
        ({"healthy_volunteers": "yes"}, "healthy_volunteers", "true or false"),
        ({"phases": "PHASE9"}, "phases", "Unknown phase 'PHASE9'"),
        (
            {"place": "Springfield, United States", "distance": "20", "unit": "km"},
            "place",
            '"Springfield, Illinois, United States"',
        ),
        ({"place": "Atlantis, Greece", "distance": "20", "unit": "km"}, "place", "No city"),
        ({"place": "a, " * 300 + "Italy", "distance": "20"}, "place", "at most 200 characters"),
        ({"place": "Milan, Italy", "distance": "50000", "unit": "km"}, "distance", "20,000 km"),
        ({"place": "Milan, Italy", "distance": "20000", "unit": "mi"}, "distance", "12,427 mi"),
        ({"place": "Milan, Italy", "distance": "0", "unit": "km"}, "distance", "above 0"),
        ({"place": "Milan, Italy", "distance": "1e-9", "unit": "km"}, "distance", "under a metre"),
        ({"place": "Milan, Italy"}, "distance", "how far"),
        ({"distance": "10", "unit": "km"}, "place", "far from where"),
    ],
)
def test_a_bad_filter_is_shown_beside_its_input_and_nothing_is_saved(
    runtime: Runtime,
    stub_broker: StubBroker,
    client: FlaskClient,
    inputs: dict[str, str],
    where: str,
    words: str,
) -> None:
    before = snapshot(runtime)
    answer = client.post("/signup", data={**SIGNUP, **inputs})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    errors = inline_errors(page)
    assert words in errors[where], errors
    assert "Nothing was saved" in errors["signup"]
    assert 'aria-invalid="true"' in page
    assert snapshot(runtime) == before and _signups(runtime) == 0
    assert _nothing_mailed(runtime, stub_broker)


def test_healthy_volunteers_is_asked_by_true_and_not_by_false(
    runtime: Runtime, client: FlaskClient
) -> None:
    """The box sends "true"; a "false" sent by a script turned the filter on."""
    for email, value in (("ada@example.org", "true"), ("bob@example.org", "false")):
        data = {**SIGNUP, "email": email, "healthy_volunteers": value}
        assert client.post("/signup", data=data).status_code == 303
    with runtime.sessions() as session:
        recorded = dict(session.execute(select(Signup.email, Signup.healthy_volunteers)).all())
    assert recorded == {"ada@example.org": True, "bob@example.org": None}


def test_every_bad_input_is_named_at_once_and_what_was_typed_stays(
    runtime: Runtime, client: FlaskClient
) -> None:
    answer = client.post(
        "/signup",
        data={
            "email": "nobody",
            "condition": "Lung cancer",
            "age": "200",
            "phases": ["PHASE2"],
            "place": "Springfield, United States",
            "distance": "10",
        },
    )
    page = answer.get_data(as_text=True)
    assert set(inline_errors(page)) == {"signup", "email", "age", "place"}
    assert 'value="200"' in page and 'value="Springfield, United States"' in page
    assert re.search(r'value="PHASE2" checked', page)
    assert _signups(runtime) == 0


def test_a_followed_study_takes_no_eligibility_filters(
    runtime: Runtime, client: FlaskClient
) -> None:
    answer = client.post(
        "/signup", data={"email": "ada@example.org", "nct_id": "NCT04267848", "age": "40"}
    )
    assert answer.status_code == 400
    assert "Must be empty for kind 'study'" in inline_errors(answer.get_data(as_text=True))["age"]
    assert _signups(runtime) == 0


# -- preferences ----------------------------------------------------------------


@pytest.fixture
def ada(runtime: Runtime) -> dict[str, Any]:
    """Ada: lung cancer near Milan at age 42, lung cancer at any age, a followed study."""
    subscribe(
        runtime,
        [
            {
                "email": "ada@example.org",
                "kind": "condition",
                "condition": "lung cancer",
                "near": "Milan, Italy;50",
                "age": 42,
            },
            {"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"},
            {"email": "ada@example.org", "kind": "study", "nct_id": "NCT04267848"},
            {"email": "bob@example.org", "kind": "condition", "condition": "melanoma"},
        ],
    )
    with runtime.sessions() as session:
        people = {
            email: (pk, key)
            for email, pk, key in session.execute(
                select(Subscriber.email, Subscriber.id, Subscriber.link_key)
            )
        }
        ids = session.scalars(select(Subscription.id).order_by(Subscription.id)).all()
    pk, key = people["ada@example.org"]
    return {
        "page": "/preferences/" + preferences_token(runtime.settings.secret_keys, pk, key),
        "near": ids[0],
        "plain": ids[1],
        "study": ids[2],
        "bob": ids[3],
        "id": pk,
    }


def _csrf(page: str) -> str:
    [token] = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    return token


def _save(client: FlaskClient, ada: dict[str, Any], subscription: int, **form: Any) -> Any:
    csrf = _csrf(client.get(ada["page"]).get_data(as_text=True))
    data = {"csrf_token": csrf, "action": "save", "subscription": subscription, **form}
    return client.post(ada["page"], data=data)


def _stored(runtime: Runtime, subscription_id: int) -> Subscription:
    with runtime.sessions() as session:
        found = session.get(Subscription, subscription_id)
        assert found is not None
        session.expunge(found)
        return found


def test_the_page_describes_each_alert_and_fills_its_form_in(
    client: FlaskClient, ada: dict[str, Any]
) -> None:
    page = client.get(ada["page"]).get_data(as_text=True)
    assert "a site within 50 km of Milan, Italy; open to age 42" in page
    near = ada["near"]
    assert (
        f'id="place-{near}" name="place" type="text" autocomplete="off" value="Milan, Italy"'
        in page
    )
    assert f'id="distance-{near}" name="distance"' in page and 'value="50"' in page
    assert f'id="age-{near}" name="age"' in page and 'value="42"' in page
    assert f'id="age-{ada["study"]}"' not in page  # a followed study has no eligibility filters
    assert f'id="place-{ada["study"]}"' in page
    assert "melanoma" not in page


def test_changing_the_distance_points_the_alert_at_new_criteria(
    runtime: Runtime, client: FlaskClient, ada: dict[str, Any]
) -> None:
    before = _stored(runtime, ada["near"])
    with runtime.sessions() as session:
        criteria_before = session.execute(select(Criteria.id, Criteria.signature)).all()
    answer = _save(
        client,
        ada,
        ada["near"],
        age="42",
        place="Milan, Italy",
        distance="50",
        unit="mi",
        frequency="monthly",
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("done=save")
    after = _stored(runtime, ada["near"])
    assert (after.near_place, after.near_km, after.age, after.frequency) == (
        "Milan, Italy",
        80.467,
        42,
        "monthly",
    )
    assert (after.near_lat, after.near_lon) == (before.near_lat, before.near_lon)
    assert after.identity != before.identity and after.criteria_id != before.criteria_id
    with runtime.sessions() as session:
        criteria = session.get(Criteria, after.criteria_id)
        assert criteria is not None and criteria.near_km == 80.467 and criteria.age == 42
        # Criteria rows never change: the old ones are all still there as they were.
        assert set(criteria_before) <= set(session.execute(select(Criteria.id, Criteria.signature)))
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Saved: the alert now asks for what you chose." in shown
    assert "a site within 80.467 km of Milan, Italy" in shown

    again = _save(
        client,
        ada,
        ada["near"],
        age="42",
        place="Milan, Italy",
        distance="80.467",
        frequency="monthly",
    )
    assert again.headers["Location"].endswith("done=unchanged")


def test_clearing_the_place_and_distance_drops_the_near_filter(
    runtime: Runtime, client: FlaskClient, ada: dict[str, Any]
) -> None:
    answer = _save(client, ada, ada["near"], age="42", frequency="daily")
    assert answer.status_code == 303
    after = _stored(runtime, ada["near"])
    assert (after.near_lat, after.near_km, after.near_place, after.age) == (None, None, None, 42)


@pytest.mark.parametrize(
    ("form", "where", "words"),
    [
        ({"age": "-1"}, "age", "whole years"),
        ({"age": "121"}, "age", "whole years"),
        ({"place": "Springfield, USA", "distance": "10"}, "place", "Springfield, Missouri"),
        ({"place": "Nowhere, Italy", "distance": "10"}, "place", "No city 'Nowhere' in Italy"),
        ({"place": "Milan, Italy", "distance": "1e9"}, "distance", "at most 20,000 km"),
        ({"place": "Milan, Italy", "distance": "nan"}, "distance", "above 0"),
        ({"frequency": "hourly"}, "frequency", "Expected one of instant"),
    ],
)
def test_a_bad_change_is_shown_beside_its_input_and_nothing_is_saved(
    runtime: Runtime,
    client: FlaskClient,
    ada: dict[str, Any],
    form: dict[str, str],
    where: str,
    words: str,
) -> None:
    before = snapshot(runtime)
    answer = _save(client, ada, ada["near"], **{"frequency": "daily", **form})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert words in inline_errors(page)[f"{where}-{ada['near']}"]
    assert "Nothing was saved" in page and re.search(r"<details open>", page)
    assert snapshot(runtime) == before


def test_an_alert_cannot_become_another_it_already_has(
    runtime: Runtime, client: FlaskClient, ada: dict[str, Any]
) -> None:
    before = snapshot(runtime)
    answer = _save(
        client, ada, ada["plain"], age="42", place="Milan, Italy", distance="50", frequency="daily"
    )
    assert answer.status_code == 400
    assert "already asks exactly this" in answer.get_data(as_text=True)
    assert snapshot(runtime) == before


def test_an_alert_of_someone_else_cannot_be_changed(
    runtime: Runtime, client: FlaskClient, ada: dict[str, Any]
) -> None:
    before = snapshot(runtime)
    assert _save(client, ada, ada["bob"], age="30", frequency="daily").status_code == 404
    assert snapshot(runtime) == before


def test_the_time_zone_and_hour_of_the_digests(
    runtime: Runtime, client: FlaskClient, ada: dict[str, Any]
) -> None:
    csrf = _csrf(client.get(ada["page"]).get_data(as_text=True))
    before = snapshot(runtime)
    bad = client.post(
        ada["page"],
        data={
            "csrf_token": csrf,
            "action": "schedule",
            "timezone": "Mars/Olympus",
            "send_hour": "25",
        },
    )
    assert bad.status_code == 400
    errors = inline_errors(bad.get_data(as_text=True))
    assert "Not an IANA time zone name" in errors["timezone"] and "23:00" in errors["send_hour"]
    assert snapshot(runtime) == before

    good = client.post(
        ada["page"],
        data={
            "csrf_token": csrf,
            "action": "schedule",
            "timezone": "europe/rome",
            "send_hour": "18",
        },
    )
    assert good.headers["Location"].endswith("done=schedule")
    with runtime.sessions() as session:
        subscriber = session.get(Subscriber, ada["id"])
        assert subscriber is not None
        assert (subscriber.timezone, subscriber.send_hour) == ("Europe/Rome", 18)
    page = client.get(ada["page"]).get_data(as_text=True)
    assert 'value="Europe/Rome"' in page and '<option value="18" selected>18:00</option>' in page
