"""`POST /ses/sns`: SES feedback pushed by SNS over HTTPS, signed, for a configured topic.

Messages are signed with a test key; its certificate reaches the app only
through `create_app(sns_links=…)`. A verified Notification is handled by the
same code as the SQS poller's messages (dedupe by MessageId included); a
bad signature, an unknown topic or a link off SNS's hosts answers 403, is
logged, and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import make_runtime
from tests.feedback_support import FeedbackRoute, bounce, complaint
from tests.integration.pipeline_helpers import subscribe
from tests.ses_support import moto_url as moto_url  # noqa: F401 - fixture
from tests.ses_support import use_aws
from tests.sns_support import CERT_URL, TOPIC, FakeSnsLinks, SnsSigner
from worker.core.models import FeedbackMessage, Subscription, Suppression
from worker.core.runtime import Runtime, set_runtime
from worker.feedback.poll import poll_feedback
from worker.web.app import create_app

OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-else"


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture
def sns_runtime(database_url: str, tmp_path: Path, stub_broker: StubBroker) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, tmp_path, sns_topic_arns=(TOPIC,))
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.close()


@pytest.fixture
def links(signer: SnsSigner) -> FakeSnsLinks:
    return FakeSnsLinks({CERT_URL: signer.certificate})


@pytest.fixture
def client(sns_runtime: Runtime, links: FakeSnsLinks) -> FlaskClient:
    return create_app(sns_runtime, sns_links=links).test_client()


def post(client: FlaskClient, message: dict[str, Any] | bytes) -> Any:
    """As SNS posts: text/plain, the message type in a header."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    kind = message.get("Type", "") if isinstance(message, dict) else ""
    return client.post(
        "/ses/sns",
        data=body,
        content_type="text/plain; charset=UTF-8",
        headers={"x-amz-sns-message-type": str(kind)},
    )


def _suppressed(runtime: Runtime) -> dict[str, str]:
    with runtime.sessions() as session:
        return {
            row.email: row.reason
            for row in session.execute(select(Suppression.email, Suppression.reason))
        }


def _kept(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(FeedbackMessage)) or 0


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_bounce_suppresses_once(
    sns_runtime: Runtime, client: FlaskClient, signer: SnsSigner, version: str
) -> None:
    message = signer.notification(bounce(["ada@example.org"]), version=version)
    first = post(client, message)
    assert (first.status_code, first.json) == (200, {"stored": 1, "duplicates": 0})
    assert list(_suppressed(sns_runtime)) == ["ada@example.org"]
    again = post(client, message)
    assert (again.status_code, again.json) == (200, {"stored": 0, "duplicates": 1})
    assert _kept(sns_runtime) == 1


def test_the_queue_and_the_endpoint_share_the_dedupe_by_message_id(
    sns_runtime: Runtime,
    client: FlaskClient,
    signer: SnsSigner,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A topic delivering to an SQS queue and to this endpoint acts once, whichever comes first."""
    use_aws(monkeypatch, tmp_path, moto_url)
    route = FeedbackRoute.create(raw=False)
    sns_runtime.settings = replace(sns_runtime.settings, feedback_queue_url=route.queue_url)
    queued_first = signer.notification(bounce(["ada@example.org"]))
    posted_first = signer.notification(complaint(["bob@example.org"]))

    route.send_body(json.dumps(queued_first))
    assert poll_feedback(sns_runtime, wait_seconds=0).outcomes["handled"] == 1
    assert post(client, queued_first).json == {"stored": 0, "duplicates": 1}

    assert post(client, posted_first).json == {"stored": 1, "duplicates": 0}
    route.send_body(json.dumps(posted_first))
    polled = poll_feedback(sns_runtime, wait_seconds=0)
    assert (polled.duplicates, polled.deleted, polled.outcomes.total()) == (1, 1, 0)

    assert _kept(sns_runtime) == 2
    assert set(_suppressed(sns_runtime)) == {"ada@example.org", "bob@example.org"}


def test_a_complaint_suppresses_and_stops_every_subscription(
    sns_runtime: Runtime, client: FlaskClient, signer: SnsSigner
) -> None:
    subscribe(
        sns_runtime,
        [
            {"email": "bob@example.org", "kind": "condition", "condition": "lung cancer"},
            {"email": "bob@example.org", "kind": "study", "nct_id": "NCT04267848"},
        ],
    )
    answer = post(client, signer.notification(complaint(["bob@example.org"]), version="2"))
    assert answer.status_code == 200
    assert _suppressed(sns_runtime) == {"bob@example.org": "complaint (abuse)"}
    with sns_runtime.sessions() as session:
        assert set(session.scalars(select(Subscription.active))) == {False}


def test_a_subscription_to_a_configured_topic_is_confirmed(
    client: FlaskClient, signer: SnsSigner, links: FakeSnsLinks
) -> None:
    message = signer.control()
    answer = post(client, message)
    assert (answer.status_code, answer.json) == (200, {"confirmed": TOPIC})
    assert links.confirmed == [message["SubscribeURL"]]
    goodbye = post(client, signer.control("UnsubscribeConfirmation"))
    assert goodbye.status_code == 200
    assert links.confirmed == [message["SubscribeURL"]]  # never re-subscribes


def _tampered(signer: SnsSigner) -> dict[str, Any]:
    message = signer.notification(bounce(["ada@example.org"]))
    return {**message, "Message": json.dumps(bounce(["eve@example.org"]))}


def _other_key() -> dict[str, Any]:
    return SnsSigner().notification(bounce(["ada@example.org"]))


def _certificate_at(signer: SnsSigner, url: str) -> dict[str, Any]:
    return signer.notification(bounce(["ada@example.org"]), SigningCertURL=url)


REFUSED = {
    "bad signature": (_tampered, "bad signature"),
    "another key": (lambda s: _other_key(), "bad signature"),
    "unknown topic": (
        lambda s: s.notification(bounce(["ada@example.org"]), topic=OTHER_TOPIC),
        "TRIALALERTS_SNS_TOPIC_ARNS",
    ),
    "unknown topic's confirmation": (
        lambda s: s.control(topic=OTHER_TOPIC),
        "TRIALALERTS_SNS_TOPIC_ARNS",
    ),
    "certificate on another host": (
        lambda s: _certificate_at(s, "https://evil.example/SimpleNotificationService-1.pem"),
        "SigningCertURL",
    ),
    "certificate on a look-alike host": (
        lambda s: _certificate_at(s, "https://sns.us-east-1.amazonaws.com.evil.example/c.pem"),
        "SigningCertURL",
    ),
    "certificate behind user info": (
        lambda s: _certificate_at(s, "https://sns.us-east-1.amazonaws.com@evil.example/c.pem"),
        "SigningCertURL",
    ),
    "certificate over http": (
        lambda s: _certificate_at(s, CERT_URL.replace("https:", "http:")),
        "SigningCertURL",
    ),
    "certificate that is no .pem": (
        lambda s: _certificate_at(s, "https://sns.us-east-1.amazonaws.com/?Action=Get"),
        "SigningCertURL",
    ),
    "subscribe URL on another host": (
        lambda s: s.control(SubscribeURL="https://evil.example/?Action=ConfirmSubscription"),
        "SubscribeURL",
    ),
    "unknown signature version": (
        lambda s: {**s.notification(bounce(["ada@example.org"])), "SignatureVersion": "3"},
        "SignatureVersion",
    ),
    "signature not base64": (
        lambda s: {**s.notification(bounce(["ada@example.org"])), "Signature": "%%%"},
        "base64",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_messages_get_403_are_logged_and_change_nothing(
    sns_runtime: Runtime,
    client: FlaskClient,
    signer: SnsSigner,
    links: FakeSnsLinks,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    build, named = REFUSED[case]
    with caplog.at_level(logging.WARNING, logger="worker.web.sns"):
        answer = post(client, build(signer))
    assert answer.status_code == 403
    assert named in answer.json["error"]
    assert any(named in record.getMessage() for record in caplog.records)
    assert _kept(sns_runtime) == 0 and _suppressed(sns_runtime) == {}
    assert links.confirmed == []
    assert set(links.fetched) <= {CERT_URL}  # no other URL is ever fetched


def test_an_unknown_topic_costs_no_certificate_fetch(
    client: FlaskClient, signer: SnsSigner, links: FakeSnsLinks
) -> None:
    post(client, signer.notification(bounce(["ada@example.org"]), topic=OTHER_TOPIC))
    assert links.fetched == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"Type": "Notification", "Message": "\xff"}',
        b"[1, 2]",
        b'{"Type": "Nonsense", "MessageId": "1"}',
        b'{"Type": {}, "MessageId": "1"}',
        json.dumps({"Type": "Notification", "MessageId": "1", "TopicArn": TOPIC}).encode(),
        json.dumps(bounce(["ada@example.org"])).encode(),  # raw delivery: unsigned
    ],
)
def test_bodies_that_are_no_sns_message_get_400(
    sns_runtime: Runtime, client: FlaskClient, body: bytes
) -> None:
    answer = post(client, body)
    assert answer.status_code == 400
    assert "not an SNS" in answer.json["error"]
    assert _kept(sns_runtime) == 0


def test_when_sns_cannot_be_reached_the_answer_asks_for_a_retry(
    sns_runtime: Runtime, client: FlaskClient, signer: SnsSigner, links: FakeSnsLinks
) -> None:
    links.down = True
    assert post(client, signer.notification(bounce(["ada@example.org"]))).status_code == 503
    assert post(client, signer.control()).status_code == 503
    assert _kept(sns_runtime) == 0 and links.confirmed == []


def test_without_configured_topics_every_message_is_refused(
    runtime: Runtime, signer: SnsSigner, links: FakeSnsLinks
) -> None:
    client = create_app(runtime, sns_links=links).test_client()
    answer = post(client, signer.notification(bounce(["ada@example.org"])))
    assert answer.status_code == 403
    assert links.fetched == []
