"""Unsubscribe links from a real digest email, through the WSGI app, on real databases.

GET shows what a link stops and changes nothing (mail scanners open links);
POST stops exactly that, idempotently, with or without RFC 8058's one-click
body and without cookies. Forged, altered or misdirected tokens get 4xx and
change nothing.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.support import event, record
from worker.core.models import Base, Signup, Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.core.tokens import BadToken, make_token
from worker.subscriptions.unsubscribe import scope_from_mail_subject, unsubscribe_by_mail
from worker.web.app import create_app

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)
ONE_CLICK = {
    "data": "List-Unsubscribe=One-Click",
    "content_type": "application/x-www-form-urlencoded",
}
WATCHED_TABLES = ("subscribers", "subscriptions", "criteria", "notifications", "signups")


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


@pytest.fixture
def digest(runtime: Runtime, stub_broker: StubBroker) -> email.message.EmailMessage:
    """Ada's daily digest: two condition alerts, beside a study she follows weekly."""
    subscribe(
        runtime,
        [
            {"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"},
            {"email": "ada@example.org", "kind": "condition", "condition": "breast cancer"},
            {
                "email": "ada@example.org",
                "kind": "study",
                "nct_id": "NCT06171568",
                "frequency": "weekly",
            },
            {"email": "bob@example.org", "kind": "condition", "condition": "lung cancer"},
        ],
    )
    events = [event(record("NCT04267848"), "e1"), event(record("NCT02513394"), "e2")]
    publish_at(runtime, stub_broker, SUNDAY_EVENING, events)
    tick(runtime, stub_broker, MONDAY_MORNING)
    [message] = [message for message in _outbox(runtime) if message["To"] == "ada@example.org"]
    return message


def _outbox(runtime: Runtime) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(runtime.settings.outbox).glob("*.eml"))
    ]


def _path(url: str) -> str:
    return urlsplit(url).path


def _list_unsubscribe(message: email.message.EmailMessage) -> tuple[str, str]:
    https, mailto = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    return https, mailto


def _body_links(message: email.message.EmailMessage) -> list[str]:
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    return re.findall(r'href="([^"]+)"', html.get_content())


def _states(runtime: Runtime) -> dict[tuple[str, str], bool]:
    """(email, condition or NCT id) -> active."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                Subscriber.email, Subscription.condition, Subscription.nct_id, Subscription.active
            ).join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        )
        return {(row.email, row.condition or row.nct_id): row.active for row in rows}


def snapshot(runtime: Runtime) -> dict[str, list[Any]]:
    """Every row of the tables a web request could touch."""
    tables = [Base.metadata.tables[name] for name in WATCHED_TABLES]
    with runtime.sessions() as session:
        return {
            table.name: [
                tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))
            ]
            for table in tables
        }


def _ids(runtime: Runtime, address: str) -> tuple[int, dict[str, int]]:
    with runtime.sessions() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
        rows = session.execute(
            select(Subscription.id, Subscription.condition, Subscription.nct_id).where(
                Subscription.subscriber_id == subscriber_id
            )
        )
        assert subscriber_id is not None
        return subscriber_id, {(row.condition or row.nct_id): row.id for row in rows}


def _link_key(runtime: Runtime, address: str) -> str:
    with runtime.sessions() as session:
        key = session.scalar(select(Subscriber.link_key).where(Subscriber.email == address))
    assert key is not None
    return key


def test_the_list_unsubscribe_link_stops_the_stream_on_post_and_not_on_get(
    runtime: Runtime, client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    url = _path(_list_unsubscribe(digest)[0])
    before = snapshot(runtime)

    shown = client.get(url)
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    assert "Stop your daily digests?" in page
    assert "New studies on lung cancer" in page and "New studies on breast cancer" in page
    assert "NCT06171568" not in page
    assert '<form method="post">' in page and ">Unsubscribe</button>" in page
    assert client.head(url).status_code == 200
    assert snapshot(runtime) == before

    client.delete_cookie("session")
    stopped = client.post(url, **ONE_CLICK)
    assert stopped.status_code == 200
    assert "You are unsubscribed" in stopped.get_data(as_text=True)
    assert _states(runtime) == {
        ("ada@example.org", "lung cancer"): False,
        ("ada@example.org", "breast cancer"): False,
        ("ada@example.org", "NCT06171568"): True,  # the weekly stream goes on
        ("bob@example.org", "lung cancer"): True,
    }
    again = client.post(url, **ONE_CLICK)
    assert again.status_code == 200
    assert "You are unsubscribed" in again.get_data(as_text=True)
    assert "already stopped" in client.get(url).get_data(as_text=True)


def test_after_one_click_no_more_daily_mail_goes_out(
    runtime: Runtime,
    stub_broker: StubBroker,
    client: FlaskClient,
    digest: email.message.EmailMessage,
) -> None:
    assert client.post(_path(_list_unsubscribe(digest)[0])).status_code == 200  # no body at all
    another_lung_study = event(record("NCT02576665.partial"), "e3")
    publish_at(runtime, stub_broker, datetime(2026, 6, 29, 9, tzinfo=UTC), another_lung_study)
    tick(runtime, stub_broker, datetime(2026, 6, 30, 8, tzinfo=UTC))
    recipients = sorted(message["To"] for message in _outbox(runtime))
    assert recipients == ["ada@example.org", "bob@example.org", "bob@example.org"]


def test_a_section_link_stops_that_one_subscription(
    runtime: Runtime, client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    section_links = [_path(link) for link in _body_links(digest) if "/u/s/" in link]
    assert len(section_links) == 2  # one per condition alert
    before = snapshot(runtime)
    page = client.get(section_links[0]).get_data(as_text=True)
    assert "Stop this alert?" in page
    assert snapshot(runtime) == before
    assert client.post(section_links[0]).status_code == 200
    states = _states(runtime)
    assert sorted(states.values()).count(False) == 1
    assert states[("ada@example.org", "NCT06171568")] is True


def test_the_footer_link_stops_everything(
    runtime: Runtime, client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    [everything] = [_path(link) for link in _body_links(digest) if "/u/all/" in link]
    before = snapshot(runtime)
    assert "Stop all your alerts?" in client.get(everything).get_data(as_text=True)
    assert snapshot(runtime) == before
    assert client.post(everything).status_code == 200
    assert client.post(everything).status_code == 200
    states = _states(runtime)
    assert not any(
        active for (address, _), active in states.items() if address == "ada@example.org"
    )
    assert states[("bob@example.org", "lung cancer")] is True


def test_the_confirmation_offers_a_way_back_through_preferences(
    runtime: Runtime, client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    done = client.post(_path(_list_unsubscribe(digest)[0])).get_data(as_text=True)
    [preferences] = re.findall(r'href="(/preferences/[^"]+)"', done)
    assert "Your alerts" in client.get(preferences).get_data(as_text=True)


def _altered(token: str) -> str:
    """The same token with one character in the middle of its signature changed."""
    payload, signature = token.rsplit(".", 1)
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{payload}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


def bad_tokens(runtime: Runtime) -> dict[str, str]:
    """Every way a stop URL can be wrong, for a real subscriber and subscription."""
    keys = runtime.settings.secret_keys
    ada, subscriptions = _ids(runtime, "ada@example.org")
    bob, _ = _ids(runtime, "bob@example.org")
    ada_key, bob_key = _link_key(runtime, "ada@example.org"), _link_key(runtime, "bob@example.org")
    lung = subscriptions["lung cancer"]
    good_stream = make_token(keys, "unsubscribe-stream", {"s": ada, "f": "daily", "k": ada_key})
    good_one = make_token(keys, "unsubscribe-subscription", {"s": ada, "sub": lung, "k": ada_key})
    other_key = ("another-secret-key-not-ours-0123",)
    return {
        "/u/ altered signature": f"/u/{_altered(good_stream)}",
        "/u/ cut short": f"/u/{good_stream[:-8]}",
        "/u/ forged with another key": "/u/"
        + make_token(other_key, "unsubscribe-stream", {"s": ada, "f": "daily", "k": ada_key}),
        "/u/ preferences token": "/u/" + make_token(keys, "preferences", {"s": ada, "k": ada_key}),
        "/u/ subscription token": f"/u/{good_one}",
        "/u/ garbage": "/u/not-a-token",
        "/u/ unknown stream": "/u/"
        + make_token(keys, "unsubscribe-stream", {"s": ada, "f": "x", "k": ada_key}),
        "/u/s/ altered signature": f"/u/s/{_altered(good_one)}",
        "/u/s/ stream token": f"/u/s/{good_stream}",
        "/u/s/ someone else's subscription": "/u/s/"
        + make_token(keys, "unsubscribe-subscription", {"s": bob, "sub": lung, "k": bob_key}),
        "/u/s/ no such subscription": "/u/s/"
        + make_token(keys, "unsubscribe-subscription", {"s": ada, "sub": 999_999, "k": ada_key}),
        "/u/all/ altered signature": "/u/all/"
        + _altered(make_token(keys, "unsubscribe-all", {"s": ada, "k": ada_key})),
        "/u/all/ stream token": f"/u/all/{good_stream}",
        "/u/all/ no such subscriber": "/u/all/"
        + make_token(keys, "unsubscribe-all", {"s": 999_999, "k": ada_key}),
        "/u/ no such subscriber": "/u/"
        + make_token(keys, "unsubscribe-stream", {"s": 999_999, "f": "daily", "k": ada_key}),
        "/u/all/ no such subscriber: someone else's link key": "/u/all/"
        + make_token(keys, "unsubscribe-all", {"s": ada, "k": bob_key}),
    }


def test_bad_tokens_get_4xx_and_change_nothing(
    runtime: Runtime, client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    before = snapshot(runtime)
    answers = {}
    for case, url in bad_tokens(runtime).items():
        answers[case] = (client.get(url).status_code, client.post(url, **ONE_CLICK).status_code)
        assert snapshot(runtime) == before, case
    assert answers == {
        case: (404, 404) if "no such" in case or "someone else" in case else (400, 400)
        for case in answers
    }


def test_the_digest_carries_one_click_headers_and_a_mailto_for_the_same_stream(
    runtime: Runtime, digest: email.message.EmailMessage
) -> None:
    """Whoever reads the unsubscribe mailbox turns a mail's subject back into its stream."""
    https, mailto = _list_unsubscribe(digest)
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert _path(https).startswith("/u/") and mailto.startswith("mailto:")
    token = https.rsplit("/", 1)[1]
    subject = mailto.split("subject=", 1)[1].replace("%20", " ")
    ada, _ = _ids(runtime, "ada@example.org")
    scope = scope_from_mail_subject(runtime.settings.secret_keys, subject)
    assert (scope.subscriber_id, scope.frequency) == (ada, "daily")
    assert subject == f"unsubscribe {token}"
    with pytest.raises(BadToken):
        unsubscribe_by_mail(f"unsubscribe {_altered(token)}", runtime)
    assert unsubscribe_by_mail(f"Re: {subject}", runtime) == 2
    assert unsubscribe_by_mail(subject, runtime) == 0
    assert _states(runtime)[("ada@example.org", "NCT06171568")] is True


def test_token_pages_are_not_cached_framed_or_leaked(
    client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    response = client.get(_path(_list_unsubscribe(digest)[0]))
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_no_get_changes_anything_on_any_route(
    runtime: Runtime, client: FlaskClient, digest: email.message.EmailMessage
) -> None:
    """Mail scanners and link previews fetch every URL they see."""
    client.post("/signup", data={"email": "cy@example.org", "condition": "melanoma"})
    keys = runtime.settings.secret_keys
    ada, subscriptions = _ids(runtime, "ada@example.org")
    ada_key = _link_key(runtime, "ada@example.org")
    with runtime.sessions() as session:
        signup_id, signup_key = session.execute(select(Signup.id, Signup.link_key)).one()
    urls = {
        "/": "/",
        "/signup": "/signup",
        "/signup/sent": "/signup/sent",
        "/healthz": "/healthz",
        "/openapi.json": "/openapi.json",
        "/schema/events/<name>": "/schema/events/study-event.v1.json",
        "/u/<token>": _path(_list_unsubscribe(digest)[0]),
        "/u/s/<token>": "/u/s/"
        + make_token(
            keys,
            "unsubscribe-subscription",
            {"s": ada, "sub": subscriptions["lung cancer"], "k": ada_key},
        ),
        "/u/all/<token>": "/u/all/" + make_token(keys, "unsubscribe-all", {"s": ada, "k": ada_key}),
        "/preferences/<token>": "/preferences/"
        + make_token(keys, "preferences", {"s": ada, "k": ada_key}),
        "/confirm/<token>": "/confirm/"
        + make_token(keys, "confirm", {"p": signup_id, "k": signup_key}, now=runtime.now()),
    }
    rules = client.application.url_map.iter_rules()
    # The console's pages sit behind a login; tests/integration/web/admin checks them.
    routes = {
        rule.rule
        for rule in rules
        if "GET" in (rule.methods or ()) and not rule.rule.startswith("/admin")
    }
    assert routes == set(urls)
    before = snapshot(runtime)
    for url in urls.values():
        assert client.get(url).status_code == 200, url
        assert client.head(url).status_code == 200, url
    assert snapshot(runtime) == before
