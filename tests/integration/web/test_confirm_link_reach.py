"""A used confirmation link opens no preferences page later: it dies with its first use.

The answer to the POST that confirms a sign-up links to the new subscriber's
preferences. A confirmation link keeps working for a week, and a mail can
leak; cutting off a person's links (a new link key) or removing them and
importing the address again must not let that old link hand out a fresh
preferences link, and past its week it is expired even once used.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.integration.pipeline_helpers import subscribe
from tests.integration.web.test_link_keys import NOW, _sign_up
from worker.core.models import Subscriber
from worker.core.runtime import Runtime, fixed_clock
from worker.subscriptions.lists import remove_subscriber
from worker.web.app import create_app

PREFERENCES = re.compile(r'href="(/preferences/[^"]+)"')


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(NOW)
    return create_app(runtime).test_client()


def _cut_off(runtime: Runtime) -> None:
    """The README's way to cut off one person's links: a new link key."""
    with runtime.sessions() as session, session.begin():
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == "amy@example.org")
            .values(link_key="a-fresh-key-0123456789", legacy_links=False)
        )


def _removed_and_imported_again(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        remove_subscriber(session, "amy@example.org")
    subscribe(runtime, [{"email": "amy@example.org", "kind": "condition", "condition": "asthma"}])


@pytest.mark.parametrize("change", [_cut_off, _removed_and_imported_again])
def test_an_old_confirmation_link_hands_out_no_preferences_link(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient, change: object
) -> None:
    link = _sign_up(runtime, stub_broker, client, "amy@example.org", "melanoma")
    confirmed = client.post(link)
    assert confirmed.status_code == 200
    [first] = PREFERENCES.findall(confirmed.get_data(as_text=True))
    assert client.get(first).status_code == 200
    change(runtime)  # type: ignore[operator]
    assert client.get(first).status_code == 404
    for method in (client.get, client.post):
        answer = method(link)
        assert answer.status_code == 200
        assert PREFERENCES.findall(answer.get_data(as_text=True)) == []


def test_a_used_confirmation_link_expires_with_its_week(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    link = _sign_up(runtime, stub_broker, client, "amy@example.org", "melanoma")
    assert client.post(link).status_code == 200
    runtime.clock = fixed_clock(NOW + timedelta(days=7, seconds=1))
    for method in (client.get, client.post):
        answer = method(link)
        assert answer.status_code == 410
        assert PREFERENCES.findall(answer.get_data(as_text=True)) == []


def test_removing_a_person_takes_their_pending_sign_ups_along(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    """An admin's removal is final: a confirmation link still in a mailbox subscribes nobody."""
    subscribe(runtime, [{"email": "amy@example.org", "kind": "condition", "condition": "asthma"}])
    pending = _sign_up(runtime, stub_broker, client, "amy@example.org", "melanoma")
    with runtime.sessions() as session, session.begin():
        remove_subscriber(session, "amy@example.org")
    answer = client.post(pending)
    assert answer.status_code in (404, 410)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
