"""SNS message checks: which URLs are SNS's, what is signed, how certificates are fetched."""

from __future__ import annotations

import httpx
import pytest

from tests.sns_support import CERT_URL, TOPIC, SnsSigner
from worker.core.config import ConfigError, load_settings
from worker.feedback.sns import (
    HttpsSnsLinks,
    Refused,
    Unavailable,
    check_sns_url,
    string_to_sign,
)


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a1b2.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-a1b2.pem",
        "https://sns.ap-southeast-2.amazonaws.com/x/y.pem",
    ],
)
def test_certificates_on_sns_hosts_are_allowed(url: str) -> None:
    check_sns_url(url, "SigningCertURL", pem=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/c.pem",
        "https://sns.us-east-1.amazonaws.com:8443/c.pem",
        "https://user@sns.us-east-1.amazonaws.com/c.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/c.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/c.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/c.pem",
        "https://sqs.us-east-1.amazonaws.com/c.pem",
        "https://SNS.us-east-1.amazonaws.com/c.pem",
        "https://sns.amazonaws.com/c.pem",
        "https://sns.us-east-1.amazonaws.com/c.pem.txt",
        "https://sns.us-east-1.amazonaws.com",
        "file:///etc/passwd.pem",
        "",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(Refused, match="SigningCertURL"):
        check_sns_url(url, "SigningCertURL", pem=True)


def test_the_string_to_sign_follows_the_documented_field_order() -> None:
    message = {
        "Type": "Notification",
        "TopicArn": TOPIC,
        "Timestamp": "2026-06-29T06:00:04.012Z",
        "Message": "hello",
        "MessageId": "m-1",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    assert (
        string_to_sign(message)
        == (
            f"Message\nhello\nMessageId\nm-1\nTimestamp\n2026-06-29T06:00:04.012Z\n"
            f"TopicArn\n{TOPIC}\nType\nNotification\n"
        ).encode()
    )
    with_subject = string_to_sign({**message, "Subject": "Amazon SES Email Event Notification"})
    assert (
        b"MessageId\nm-1\nSubject\nAmazon SES Email Event Notification\nTimestamp" in with_subject
    )


def test_certificates_are_fetched_once_and_redirects_are_not_followed() -> None:
    pem = SnsSigner().certificate
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.path.endswith("moved.pem"):
            return httpx.Response(302, headers={"Location": "https://evil.example/c.pem"})
        return httpx.Response(200, content=pem)

    links = HttpsSnsLinks(httpx.Client(transport=httpx.MockTransport(answer)))
    assert links.certificate(CERT_URL) == pem
    assert links.certificate(CERT_URL) == pem
    assert asked == [CERT_URL]
    moved = CERT_URL.replace("test0000", "moved")
    with pytest.raises(Unavailable, match="302"):
        links.certificate(moved)
    assert asked == [CERT_URL, moved]


def test_the_topics_setting_is_a_comma_separated_list_of_sns_topic_arns() -> None:
    other = "arn:aws:sns:eu-west-1:123456789012:feedback.fifo"
    env = {"TRIALALERTS_SNS_TOPIC_ARNS": f" {TOPIC}, {other} ,"}
    assert load_settings(env).sns_topic_arns == (TOPIC, other)
    assert load_settings({}).sns_topic_arns == ()
    with pytest.raises(ConfigError, match="TRIALALERTS_SNS_TOPIC_ARNS"):
        load_settings({"TRIALALERTS_SNS_TOPIC_ARNS": "arn:aws:sqs:us-east-1:123456789012:q"})
