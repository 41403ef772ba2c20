"""The preferences page through the WSGI app on real databases.

A signed link lists one subscriber's alerts; forms change a frequency, stop
or restart one alert, or stop all. Forms must carry the page's form token
and come from this site; a change never reaches another subscriber's alert
and never touches the shared criteria rows.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.integration.web.test_unsubscribe import snapshot
from tests.support import event, record
from worker.core.models import Criteria, Notification, Subscriber, Subscription, Suppression
from worker.core.runtime import Runtime
from worker.core.tokens import make_token, preferences_token
from worker.web.app import create_app

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


@pytest.fixture
def people(runtime: Runtime) -> dict[str, Any]:
    """Ada with a daily condition alert and a weekly study follow; Bob with one alert."""
    subscribe(
        runtime,
        [
            {
                "email": "ada@example.org",
                "kind": "condition",
                "condition": "lung cancer",
                "countries": "Italy;France",
            },
            {
                "email": "ada@example.org",
                "kind": "study",
                "nct_id": "NCT04267848",
                "frequency": "weekly",
            },
            {"email": "bob@example.org", "kind": "condition", "condition": "lung cancer"},
        ],
    )
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                Subscriber.email,
                Subscriber.id,
                Subscriber.link_key,
                Subscription.id,
                Subscription.kind,
            ).join(Subscription, Subscription.subscriber_id == Subscriber.id)
        ).all()
    found: dict[str, Any] = {}
    for address, subscriber_id, link_key, subscription_id, kind in rows:
        name = address.split("@")[0]
        found[name] = subscriber_id
        found[f"{name}-key"] = link_key
        found[f"{name}-{kind}"] = subscription_id
    keys = runtime.settings.secret_keys
    found["ada-page"] = "/preferences/" + preferences_token(keys, found["ada"], found["ada-key"])
    return found


def _csrf(page: str) -> str:
    [token] = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    return token


def _subscription(runtime: Runtime, subscription_id: int) -> Subscription:
    with runtime.sessions() as session:
        found = session.get(Subscription, subscription_id)
        assert found is not None
        return found


def _post(client: FlaskClient, url: str, csrf: str, **form: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf, **form})


def test_the_page_lists_every_alert_with_its_frequency_and_state(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    before = snapshot(runtime)
    response = client.get(people["ada-page"])
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "ada@example.org" in page and "bob@example.org" not in page
    assert "New studies on lung cancer" in page and "in France, Italy" in page
    assert "Study NCT04267848" in page
    assert re.search(r'<option value="weekly" selected>Weekly digest</option>', page)
    assert page.count('value="stop"') == 2 and 'value="stop-all"' in page
    assert snapshot(runtime) == before


def test_changing_a_frequency_keeps_the_criteria_and_redirects_back(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    with runtime.sessions() as session:
        criteria_before = session.execute(select(Criteria.id, Criteria.signature)).all()
    criteria_id = _subscription(runtime, people["ada-condition"]).criteria_id

    answer = _post(
        client,
        url,
        csrf,
        action="frequency",
        subscription=people["ada-condition"],
        frequency="weekly",
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("done=frequency")
    changed = _subscription(runtime, people["ada-condition"])
    assert (changed.frequency, changed.criteria_id, changed.active) == ("weekly", criteria_id, True)
    with runtime.sessions() as session:
        assert session.execute(select(Criteria.id, Criteria.signature)).all() == criteria_before
    assert _subscription(runtime, people["bob-condition"]).frequency == "daily"
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Saved: the alert will now come with its new frequency." in shown

    same_again = _post(
        client,
        url,
        csrf,
        action="frequency",
        subscription=people["ada-condition"],
        frequency="weekly",
    )
    assert same_again.headers["Location"].endswith("done=unchanged")


def test_pending_news_follows_an_alert_to_its_new_frequency(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient, people: dict[str, Any]
) -> None:
    italy = record("NCT04267848")
    italy["protocolSection"]["contactsLocationsModule"]["locations"][0]["country"] = "Italy"
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(italy, "e1"))
    with runtime.sessions() as session:
        pending = session.execute(
            select(Notification.frequency).where(Notification.subscriber_id == people["ada"])
        ).all()
    assert [row.frequency for row in pending] == ["daily"]
    csrf = _csrf(client.get(people["ada-page"]).get_data(as_text=True))
    _post(
        client,
        people["ada-page"],
        csrf,
        action="frequency",
        subscription=people["ada-condition"],
        frequency="instant",
    )
    with runtime.sessions() as session:
        moved = session.scalars(
            select(Notification.frequency).where(Notification.subscriber_id == people["ada"])
        ).all()
        bobs = session.scalars(
            select(Notification.frequency).where(Notification.subscriber_id == people["bob"])
        ).all()
    assert moved == ["instant"] and bobs == ["daily"]


def test_stop_restart_and_stop_all(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    condition, study = people["ada-condition"], people["ada-study"]

    assert _post(client, url, csrf, action="stop", subscription=condition).status_code == 303
    assert not _subscription(runtime, condition).active
    page = client.get(url).get_data(as_text=True)
    assert 'value="restart"' in page and "stopped" in page
    assert _post(client, url, csrf, action="restart", subscription=condition).status_code == 303
    assert _subscription(runtime, condition).active

    stopped_all = _post(client, url, csrf, action="stop-all")
    assert stopped_all.headers["Location"].endswith("done=stop-all")
    assert not _subscription(runtime, condition).active
    assert not _subscription(runtime, study).active
    assert _subscription(runtime, people["bob-condition"]).active
    again = _post(client, url, csrf, action="stop-all")
    assert again.headers["Location"].endswith("done=unchanged")


def test_a_form_without_the_page_token_or_from_another_site_changes_nothing(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    bob_page = "/preferences/" + preferences_token(
        runtime.settings.secret_keys, people["bob"], people["bob-key"]
    )
    bobs_csrf = _csrf(client.get(bob_page).get_data(as_text=True))
    stop = {"action": "stop-all"}
    before = snapshot(runtime)
    attempts = {
        "no token": client.post(url, data=stop),
        "empty token": client.post(url, data={"csrf_token": "", **stop}),
        "altered token": client.post(url, data={"csrf_token": _altered(csrf), **stop}),
        "another page's token": client.post(url, data={"csrf_token": bobs_csrf, **stop}),
        "other origin": client.post(
            url, data={"csrf_token": csrf, **stop}, headers={"Origin": "https://evil.example"}
        ),
        "cross-site fetch": client.post(
            url, data={"csrf_token": csrf, **stop}, headers={"Sec-Fetch-Site": "cross-site"}
        ),
    }
    assert {name: answer.status_code for name, answer in attempts.items()} == dict.fromkeys(
        attempts, 403
    )
    assert snapshot(runtime) == before
    as_browsers_send_it = [
        {"Origin": "http://localhost"},
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # no-referrer pages send "null"
    ]
    for headers in as_browsers_send_it:
        answer = client.post(url, data={"csrf_token": csrf, **stop}, headers=headers)
        assert answer.status_code == 303, headers


def test_an_alert_of_someone_else_cannot_be_touched(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    bobs = people["bob-condition"]
    before = snapshot(runtime)
    for action in ("stop", "restart", "frequency"):
        answer = _post(client, url, csrf, action=action, subscription=bobs, frequency="weekly")
        assert answer.status_code == 404, action
    assert snapshot(runtime) == before


def test_malformed_forms_get_400_and_change_nothing(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    before = snapshot(runtime)
    forms = [
        {"action": "delete-everything"},
        {"action": "stop"},
        {"action": "stop", "subscription": "one"},
        {
            "action": "frequency",
            "subscription": str(people["ada-condition"]),
            "frequency": "hourly",
        },
    ]
    assert [_post(client, url, csrf, **form).status_code for form in forms] == [400] * len(forms)
    assert snapshot(runtime) == before


def test_bad_or_stale_links_get_4xx(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    keys = runtime.settings.secret_keys
    token = people["ada-page"].rsplit("/", 1)[1]
    before = snapshot(runtime)
    cases = {
        f"/preferences/{token[:-6]}": 400,
        "/preferences/"
        + make_token(keys, "unsubscribe-all", {"s": people["ada"], "k": people["ada-key"]}): 400,
        "/preferences/"
        + preferences_token(("some-other-secret-key-000",), people["ada"], people["ada-key"]): 400,
        "/preferences/" + preferences_token(keys, 999_999, people["ada-key"]): 404,
        "/preferences/" + preferences_token(keys, people["ada"], people["bob-key"]): 404,
    }
    for url, status in cases.items():
        assert client.get(url).status_code == status, url
        assert client.post(url, data={"action": "stop-all"}).status_code in (403, status), url
    assert snapshot(runtime) == before


def test_a_suppressed_address_is_told_why_nothing_arrives(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    with runtime.sessions() as session, session.begin():
        session.add(
            Suppression(email="ada@example.org", reason="bounce", created_at=SUNDAY_EVENING)
        )
    page = client.get(people["ada-page"]).get_data(as_text=True)
    assert "We no longer send email to this address" in page


def _altered(token: str) -> str:
    """The token with its last character changed (never back to the same one)."""
    return token[:-1] + ("1" if token.endswith("0") else "0")
