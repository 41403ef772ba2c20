"""Public sign-up with double opt-in, through the WSGI app on real databases.

POST an address and a condition or NCT id: the same answer whatever the
address, a confirmation email within the per-address and per-client limits,
no subscription yet. The emailed link shows a button (GET changes nothing);
its POST subscribes, once. Unconfirmed sign-ups expire.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.integration.pipeline_helpers import subscribe
from tests.integration.web.test_unsubscribe import snapshot
from worker.core.models import Signup, Subscriber, Subscription, Suppression
from worker.core.runtime import Runtime, fixed_clock
from worker.core.tokens import make_token
from worker.queue.broker import current, drain
from worker.queue.runner import wake_stranded
from worker.sending.senders import sender_of
from worker.subscriptions.signups import cleanup_signups
from worker.web.app import create_app

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
LUNG = {"email": "Ada@Example.org", "condition": "Lung cancer"}


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(NOW)
    return create_app(runtime).test_client()


def _outbox(runtime: Runtime) -> list[email.message.EmailMessage]:
    """The mails sent so far, without running the queue."""
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(runtime.settings.outbox).glob("*.eml"))
    ]


def _mails(runtime: Runtime) -> list[email.message.EmailMessage]:
    """The mails sent once the queue has run what the requests left for it."""
    drain(current(runtime.settings))
    return _outbox(runtime)


def _confirm_path(message: email.message.EmailMessage) -> str:
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    [url] = set(re.findall(r"https?://\S+/confirm/\S+", text.get_content()))
    return urlsplit(url).path


def _subscriptions(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                Subscriber.email,
                Subscriber.timezone,
                Subscription.kind,
                Subscription.condition,
                Subscription.nct_id,
                Subscription.frequency,
                Subscription.active,
                Subscription.confirmed,
            )
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .order_by(Subscription.id)
        )
        return [tuple(row) for row in rows]


def test_the_form_is_served_at_the_root_and_at_signup(client: FlaskClient) -> None:
    for url in ("/", "/signup"):
        page = client.get(url).get_data(as_text=True)
        assert '<label for="email">' in page and 'name="nct_id"' in page


def test_sign_up_confirm_by_email_then_post(runtime: Runtime, client: FlaskClient) -> None:
    answer = client.post("/signup", data={**LUNG, "frequency": "weekly", "timezone": "Europe/Rome"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/signup/sent"
    assert "Check your inbox" in client.get("/signup/sent").get_data(as_text=True)
    assert _subscriptions(runtime) == []
    [message] = _mails(runtime)
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Confirm your clinical trial alerts"
    url = _confirm_path(message)

    before = snapshot(runtime)
    shown = client.get(url)
    assert shown.status_code == 200
    assert "Lung cancer" in shown.get_data(as_text=True)
    assert '<form method="post">' in shown.get_data(as_text=True)
    assert snapshot(runtime) == before

    confirmed = client.post(url)
    assert confirmed.status_code == 200
    assert "You are subscribed" in confirmed.get_data(as_text=True)
    expected = [
        ("ada@example.org", "Europe/Rome", "condition", "Lung cancer", None, "weekly", True, True)
    ]
    assert _subscriptions(runtime) == expected
    [preferences] = re.findall(r'href="(/preferences/[^"]+)"', confirmed.get_data(as_text=True))
    assert "Lung cancer" in client.get(preferences).get_data(as_text=True)
    assert client.post(url).status_code == 200
    again = client.get(url).get_data(as_text=True)
    assert "Already confirmed" in again and "/preferences/" not in again
    assert _subscriptions(runtime) == expected


def test_json_sign_up_follows_a_study(runtime: Runtime, client: FlaskClient) -> None:
    answer = client.post("/signup", json={"email": "bob@example.org", "nct_id": "nct07635641"})
    assert answer.status_code == 202
    assert answer.json is not None and answer.json["status"] == "check-your-inbox"
    client.post(_confirm_path(_mails(runtime)[0]))
    assert _subscriptions(runtime) == [
        ("bob@example.org", "UTC", "study", None, "NCT07635641", "daily", True, True)
    ]


def test_the_answer_is_the_same_whoever_the_address_belongs_to(
    runtime: Runtime, client: FlaskClient
) -> None:
    subscribe(
        runtime, [{"email": "known@example.org", "kind": "condition", "condition": "melanoma"}]
    )
    with runtime.sessions() as session, session.begin():
        session.add(Suppression(email="bounced@example.org", reason="bounce", created_at=NOW))
    addresses = ["new@example.org", "known@example.org", "bounced@example.org"]
    addresses += ["busy@example.org"] * 4  # the fourth is over the per-address limit
    answers = set()
    for address in addresses:
        form = client.post("/signup", data={"email": address, "condition": "melanoma"})
        api = client.post("/signup", json={"email": address, "condition": "melanoma"})
        answers.add((form.status_code, form.headers["Location"], api.status_code, api.data))
    assert len(answers) == 1
    mailed = sorted(message["To"] for message in _mails(runtime))
    # each address asked twice per round (form and JSON); 3 mails a day per address at most
    assert mailed == ["busy@example.org"] * 3 + ["known@example.org"] * 2 + ["new@example.org"] * 2


def test_the_per_address_limit_lifts_after_a_day(runtime: Runtime, client: FlaskClient) -> None:
    for _ in range(4):
        client.post("/signup", data=LUNG)
    assert len(_mails(runtime)) == 3
    runtime.clock = fixed_clock(NOW + timedelta(hours=24, seconds=1))
    client.post("/signup", data=LUNG)
    assert len(_mails(runtime)) == 4


def test_the_per_client_limit_counts_a_hash_of_the_address_not_the_address(
    runtime: Runtime, client: FlaskClient
) -> None:
    crowd = {"REMOTE_ADDR": "203.0.113.7"}
    for number in range(21):
        client.post(
            "/signup",
            data={"email": f"p{number}@example.org", "condition": "melanoma"},
            environ_base=crowd,
        )
    assert len(_mails(runtime)) == 20
    client.post(
        "/signup",
        data={"email": "late@example.org", "condition": "melanoma"},
        environ_base={"REMOTE_ADDR": "198.51.100.1"},
    )
    assert len(_mails(runtime)) == 21
    with runtime.sessions() as session:
        hashes = {value or "" for value in session.scalars(select(Signup.client_hash))}
    assert len(hashes) == 2 and all(len(value) == 64 for value in hashes)
    assert not any("203.0.113.7" in value or "198.51.100.1" in value for value in hashes)


def test_a_trusted_proxy_passes_on_the_client_address(runtime: Runtime) -> None:
    runtime.clock = fixed_clock(NOW)
    client = create_app(runtime, trusted_proxies=1).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for number in range(21):
        client.post(
            "/signup",
            data={"email": f"p{number}@example.org", "condition": "melanoma"},
            environ_base=proxy,
            headers={"X-Forwarded-For": f"spoofed, 203.0.113.{number}"},
        )
    assert len(_mails(runtime)) == 21


# (fields, the API's reason, the form input the page marks, the words beside it)
MALFORMED = [
    ({"condition": "melanoma"}, "email: required", "email", "Required."),
    (
        {"email": "not-an-address", "condition": "melanoma"},
        "email 'not-an-address'",
        "email",
        "must have an @-sign",
    ),
    ({"email": "a@example.org"}, "either a condition or an NCT id", "signup", "either a"),
    (
        {"email": "a@example.org", "condition": "x", "nct_id": "NCT07635641"},
        "one of the two",
        "signup",
        "one of the two",
    ),
    (
        {"email": "a@example.org", "nct_id": "NCT123"},
        "NCT followed by 8 digits",
        "nct_id",
        "Expected NCT followed by 8 digits",
    ),
    (
        {"email": "a@example.org", "condition": "the and of"},
        "no meaningful words",
        "condition",
        "No meaningful words",
    ),
    (
        {"email": "a@example.org", "condition": "melanoma", "frequency": "hourly"},
        "frequency",
        "frequency",
        "Expected one of instant, daily, weekly, monthly.",
    ),
    (
        {"email": "a@example.org", "condition": "melanoma", "timezone": "Mars/Olympus"},
        "time zone",
        "timezone",
        "Not an IANA time zone name",
    ),
]


def inline_error(page: str, name: str) -> str:
    """The message the form shows beside input `name` ("signup": above the form)."""
    tag = "div" if name == "signup" else "p"
    found = re.search(rf'id="{name}-error">(.*?)</{tag}>', page, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


def test_a_malformed_sign_up_is_refused_naming_the_field(
    runtime: Runtime, client: FlaskClient
) -> None:
    for fields, reason, name, words in MALFORMED:
        form = client.post("/signup", data=fields)
        assert form.status_code == 400
        assert words in inline_error(form.get_data(as_text=True), name), fields
        api = client.post("/signup", json=fields)
        assert api.status_code == 400 and api.json is not None and reason in api.json["error"]
    assert _mails(runtime) == []


def test_json_must_be_an_object_of_known_fields(runtime: Runtime, client: FlaskClient) -> None:
    typo = client.post(
        "/signup", json={"email": "a@example.org", "condition": "x", "frequncy": "weekly"}
    )
    assert typo.status_code == 400 and "frequncy" in typo.get_json()["error"]
    assert client.post("/signup", json=["a@example.org"]).status_code == 400
    broken = client.post("/signup", data="{", content_type="application/json")
    assert broken.status_code == 400
    assert _mails(runtime) == []


def test_an_unconfirmed_sign_up_expires(runtime: Runtime, client: FlaskClient) -> None:
    client.post("/signup", data=LUNG)
    url = _confirm_path(_mails(runtime)[0])
    runtime.clock = fixed_clock(NOW + timedelta(days=7, seconds=1))
    assert client.get(url).status_code == 410
    late = client.post(url)
    assert late.status_code == 410 and "This link has expired" in late.get_data(as_text=True)
    assert _subscriptions(runtime) == []
    assert cleanup_signups(runtime) == 1
    assert cleanup_signups(runtime) == 0
    assert client.post(url).status_code == 410


def test_cleanup_keeps_open_sign_ups(runtime: Runtime, client: FlaskClient) -> None:
    client.post("/signup", data=LUNG)
    runtime.clock = fixed_clock(NOW + timedelta(days=6))
    assert cleanup_signups(runtime) == 0
    assert client.post(_confirm_path(_mails(runtime)[0])).status_code == 200


def test_bad_confirm_tokens_get_4xx_and_change_nothing(
    runtime: Runtime, client: FlaskClient
) -> None:
    client.post("/signup", data=LUNG)
    token = _confirm_path(_mails(runtime)[0]).rsplit("/", 1)[1]
    keys = runtime.settings.secret_keys
    with runtime.sessions() as session:
        signup_id, link_key = session.execute(select(Signup.id, Signup.link_key)).one()
    cases = {
        token[:-5] + ("AAAAA" if not token.endswith("AAAAA") else "BBBBB"): 400,
        make_token(
            ("another-secret-key-000000",), "confirm", {"p": signup_id, "k": link_key}, now=NOW
        ): 400,
        make_token(keys, "preferences", {"s": signup_id, "k": link_key}): 400,
        make_token(keys, "confirm", {"p": 999_999, "k": link_key}, now=NOW): 410,
        make_token(keys, "confirm", {"p": signup_id, "k": "another-rows-link-key0"}, now=NOW): 410,
    }
    before = snapshot(runtime)
    for bad, status in cases.items():
        assert client.get(f"/confirm/{bad}").status_code == status
        assert client.post(f"/confirm/{bad}").status_code == status
    assert snapshot(runtime) == before


def test_confirming_restarts_a_stopped_alert_and_keeps_the_timezone(
    runtime: Runtime, client: FlaskClient
) -> None:
    subscribe(
        runtime,
        [
            {
                "email": "ada@example.org",
                "kind": "condition",
                "condition": "lung cancer",
                "timezone": "Asia/Tokyo",
            }
        ],
    )
    with runtime.sessions() as session, session.begin():
        session.execute(update(Subscription).values(active=False))
    client.post("/signup", data={**LUNG, "frequency": "instant"})
    client.post(_confirm_path(_mails(runtime)[0]))
    assert _subscriptions(runtime) == [
        ("ada@example.org", "Asia/Tokyo", "condition", "lung cancer", None, "instant", True, True)
    ]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1


class _BrokenSender:
    def send(self, *, to_addr: str, raw: bytes, delivery_id: int, tags: dict[str, str]) -> str:
        raise OSError("mail server down")


def test_a_sender_that_is_down_delays_the_mail_and_loses_nothing(
    runtime: Runtime, client: FlaskClient
) -> None:
    sender = sender_of(runtime)
    runtime.parts["sender"] = _BrokenSender()
    assert client.post("/signup", data=LUNG).status_code == 303
    assert _mails(runtime) == []
    with runtime.sessions() as session:
        assert session.scalars(select(Signup.mailed_at)).all() == [None]
    runtime.parts["sender"] = sender
    wake_stranded(runtime, None)
    [message] = _mails(runtime)
    assert message["To"] == "ada@example.org"
