"""Links are bound to their row's link key: they die with the row, whatever id comes next.

A sign-up removed by the clean-up job leaves its confirmation link in a
mailbox; a later sign-up, even one under the same id, must never be confirmed
by it. Rows from before link keys (`legacy_links`) still take the key-less
links of the emails sent back then; rows created since never do.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select, update

from tests.integration.pipeline_helpers import subscribe
from tests.integration.web.test_unsubscribe import snapshot
from worker.core.models import Signup, Subscriber, Subscription
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.broker import drain
from worker.subscriptions.signups import cleanup_signups
from worker.web.app import create_app

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
SHA256 = {"digest_method": hashlib.sha256}


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(NOW)
    return create_app(runtime).test_client()


def _sign_up(
    runtime: Runtime, broker: StubBroker, client: FlaskClient, address: str, condition: str
) -> str:
    """Sign up through the form; the path of the confirmation link mailed to `address`."""
    assert (
        client.post("/signup", data={"email": address, "condition": condition}).status_code == 303
    )
    drain(broker)
    for path in sorted(Path(runtime.settings.outbox).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            text = message.get_body(preferencelist=("plain",))
            assert text is not None
            [url] = set(re.findall(r"https?://\S+/confirm/\S+", text.get_content()))
            return urlsplit(url).path
    raise AssertionError(f"no confirmation mail to {address}")


@pytest.mark.parametrize("sams_id", ["a new id", "amy's id"])
def test_a_removed_sign_ups_link_never_confirms_a_later_sign_up(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient, sams_id: str
) -> None:
    amys_link = _sign_up(runtime, stub_broker, client, "amy@example.org", "melanoma")
    with runtime.sessions() as session:
        amys = session.scalar(select(Signup.id))
    runtime.clock = fixed_clock(NOW + timedelta(days=8))
    assert cleanup_signups(runtime) == 1
    sams_link = _sign_up(runtime, stub_broker, client, "sam@example.org", "lung cancer")
    if sams_id == "amy's id":  # what id reuse (or a restored backup) would do
        with runtime.sessions() as session, session.begin():
            session.execute(update(Signup).values(id=amys))
    before = snapshot(runtime)
    for method in (client.get, client.post):
        answer = method(amys_link)
        assert answer.status_code == 410
        assert "lung cancer" not in answer.get_data(as_text=True)
    assert snapshot(runtime) == before
    if sams_id == "a new id":
        assert client.post(sams_link).status_code == 200
        with runtime.sessions() as session:
            assert session.scalars(select(Subscriber.email)).all() == ["sam@example.org"]


class _SignedAtNow(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(NOW.timestamp())


def _keyless(runtime: Runtime, purpose: str, payload: dict[str, int]) -> str:
    """A token as links were made before link keys (plain itsdangerous, no "k")."""
    [key] = runtime.settings.secret_keys
    if purpose == "confirm":
        timed = URLSafeTimedSerializer(key, purpose, signer=_SignedAtNow, signer_kwargs=SHA256)
        return timed.dumps(payload)
    return URLSafeSerializer(key, salt=purpose, signer_kwargs=SHA256).dumps(payload)


def test_keyless_links_work_for_rows_from_before_link_keys_only(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    subscribe(
        runtime,
        [
            {"email": "old@example.org", "kind": "condition", "condition": "lung cancer"},
            {"email": "new@example.org", "kind": "condition", "condition": "lung cancer"},
        ],
    )
    _sign_up(runtime, stub_broker, client, "old@example.org", "melanoma")
    _sign_up(runtime, stub_broker, client, "new@example.org", "melanoma")
    with runtime.sessions() as session, session.begin():
        for table in (Subscriber, Signup):
            session.execute(
                update(table).where(table.email == "old@example.org").values(legacy_links=True)
            )
    with runtime.sessions() as session:
        people = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
        signups = dict(session.execute(select(Signup.email, Signup.id)).all())
        subscriptions = dict(
            session.execute(select(Subscription.subscriber_id, Subscription.id)).all()
        )

    def links(address: str) -> dict[str, str]:
        person = people[address]
        return {
            "stream": "/u/" + _keyless(runtime, "unsubscribe-stream", {"s": person, "f": "daily"}),
            "subscription": "/u/s/"
            + _keyless(
                runtime, "unsubscribe-subscription", {"s": person, "sub": subscriptions[person]}
            ),
            "all": "/u/all/" + _keyless(runtime, "unsubscribe-all", {"s": person}),
            "preferences": "/preferences/" + _keyless(runtime, "preferences", {"s": person}),
            "confirm": "/confirm/" + _keyless(runtime, "confirm", {"p": signups[address]}),
        }

    before = snapshot(runtime)
    shown = {kind: client.get(path).status_code for kind, path in links("new@example.org").items()}
    assert shown == {
        "stream": 404,
        "subscription": 404,
        "all": 404,
        "preferences": 404,
        "confirm": 410,
    }
    for kind, path in links("new@example.org").items():
        assert client.post(path).status_code in (403, 404, 410), kind
    assert snapshot(runtime) == before
    for kind, path in links("old@example.org").items():
        assert client.get(path).status_code == 200, kind
    assert client.post(links("old@example.org")["all"]).status_code == 200
    with runtime.sessions() as session:
        running = dict(
            session.execute(
                select(Subscriber.email, Subscription.active).join(
                    Subscription, Subscription.subscriber_id == Subscriber.id
                )
            ).all()
        )
    assert running == {"old@example.org": False, "new@example.org": True}
