"""SNS over HTTPS as Amazon sends it, signed with a test key instead of Amazon's.

`SnsSigner` signs messages the way SNS does (the documented string to sign,
RSA PKCS#1 v1.5, SHA1 for SignatureVersion 1, SHA256 for 2) with a key of
its own, and `FakeSnsLinks` hands the app that key's certificate for the
SNS certificate URL: the seam `create_app(sns_links=…)`, which no request
can reach.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from worker.feedback.sns import Unavailable, string_to_sign

TOPIC = "arn:aws:sns:us-east-1:123456789012:trialalerts-ses-feedback"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test0000.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
)


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class SnsSigner:
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def certificate(self) -> bytes:
        return _certificate(self.key)

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        signed = {**message, "SignatureVersion": version}
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(signed), padding.PKCS1v15(), digest)
        return {**signed, "Signature": base64.b64encode(signature).decode()}

    def notification(
        self, ses: dict[str, Any], *, topic: str = TOPIC, version: str = "1", **fields: Any
    ) -> dict[str, Any]:
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic,
            "Message": json.dumps(ses),
            "Timestamp": "2026-06-29T06:00:04.012Z",
            "SigningCertURL": CERT_URL,
            "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1",
            **fields,
        }
        return self.sign(message, version)

    def control(
        self, kind: str = "SubscriptionConfirmation", *, topic: str = TOPIC, **fields: Any
    ) -> dict[str, Any]:
        message = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": "2336412f37fb687f5d51e6e2425",
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": SUBSCRIBE_URL,
            "Timestamp": "2026-06-29T05:59:00.000Z",
            "SigningCertURL": CERT_URL,
            **fields,
        }
        return self.sign(message)


@dataclass
class FakeSnsLinks:
    """The app's way to SNS's certificates and SubscribeURLs, without a network."""

    certificates: dict[str, bytes]
    fetched: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    down: bool = False

    def certificate(self, url: str) -> bytes:
        self.fetched.append(url)
        if self.down or url not in self.certificates:
            raise Unavailable(f"no certificate at {url}")
        return self.certificates[url]

    def confirm(self, url: str) -> None:
        if self.down:
            raise Unavailable(f"{url} did not answer")
        self.confirmed.append(url)
