"""SNS over HTTPS: is a POSTed message really Amazon SNS's, for a topic we subscribed to?

SNS signs every message it delivers: RSA PKCS#1 v1.5 over SHA1
(SignatureVersion 1) or SHA256 (2) of a fixed list of the message's fields,
with the key of the certificate at SigningCertURL. Anyone can write any URL
there, so a certificate is fetched only from
`https://sns.<region>.amazonaws.com/….pem` (TLS then proves the host is
Amazon's) and then cached; the SubscribeURL a confirmation asks us to open
must be on such a host too. The topic is checked first, against
TRIALALERTS_SNS_TOPIC_ARNS, so a stranger's message costs no fetch at all.

The two links are followed by an `SnsLinks`: `HttpsSnsLinks` in production;
tests give the app their own (see `worker.web.app.create_app`), so a test
certificate never comes from a request.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Collection
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CONTROL = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
# The fields each type's signature covers, in this order (Subject only when present).
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    **{
        kind: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
        for kind in CONTROL
    },
}
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com")
MAX_CERTIFICATE_BYTES = 64 * 1024


class NotSns(ValueError):
    """The body is not an SNS message at all (400)."""


class Refused(Exception):
    """An SNS-shaped message we must not act on (403); the text says why."""


class Unavailable(Exception):
    """SNS's certificate or confirmation URL could not be reached (503: SNS retries)."""


class SnsLinks(Protocol):
    def certificate(self, url: str) -> bytes:
        """The PEM at a checked SigningCertURL; raises Unavailable."""

    def confirm(self, url: str) -> None:
        """Open a checked SubscribeURL; raises Unavailable."""


def read_message(body: bytes) -> dict[str, Any]:
    """The SNS message in a request body; NotSns when it is none."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise NotSns(f"not an SNS message: the body is not UTF-8 JSON ({error})") from None
    if not isinstance(message, dict):
        raise NotSns("not an SNS message: the body is not a JSON object")
    kind = message.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise NotSns(
            f"not an SNS message: Type {str(kind)[:40]!r} is none of {list(SIGNED_FIELDS)}"
        )
    needed = [f for f in SIGNED_FIELDS[kind] if f != "Subject"]
    needed += ["Signature", "SignatureVersion", "SigningCertURL"]
    missing = [f for f in needed if not isinstance(message.get(f), str)]
    if missing or not isinstance(message.get("Subject") or "", str):
        raise NotSns(f"not an SNS {kind}: no string {', '.join(missing) or 'Subject'}")
    return message


def check_sns_url(url: str, what: str, *, pem: bool = False) -> None:
    """Refused unless `url` is https on an SNS host (no user, no port), a .pem when `pem`."""
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or not SNS_HOST.fullmatch(parts.netloc)
        or (pem and not parts.path.endswith(".pem"))
    ):
        shape = (
            "https://sns.<region>.amazonaws.com/….pem"
            if pem
            else "https://sns.<region>.amazonaws.com/"
        )
        raise Refused(f"{what} {url[:200]!r} is not on {shape}")


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS[message["Type"]]
    present = [name for name in fields if message.get(name) is not None]
    return "".join(f"{name}\n{message[name]}\n" for name in present).encode()


def verify(message: dict[str, Any], topics: Collection[str], links: SnsLinks) -> None:
    """Refused unless the message is for one of `topics` and signed by SNS; cheap checks first."""
    topic = message["TopicArn"]
    if topic not in topics:
        raise Refused(f"topic {topic[:300]!r} is not in TRIALALERTS_SNS_TOPIC_ARNS")
    hash_kind = SIGNATURE_HASHES.get(message["SignatureVersion"])
    if hash_kind is None:
        raise Refused(f"SignatureVersion {message['SignatureVersion'][:10]!r} is not 1 or 2")
    check_sns_url(message["SigningCertURL"], "SigningCertURL", pem=True)
    if message["Type"] == "SubscriptionConfirmation":
        check_sns_url(message["SubscribeURL"], "SubscribeURL")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except binascii.Error:
        raise Refused("Signature is not base64") from None
    key = _public_key(links.certificate(message["SigningCertURL"]))
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), hash_kind())
    except InvalidSignature:
        raise Refused(f"bad signature on SNS message {message['MessageId'][:100]!r}") from None


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        raise Refused("the signing certificate is not a PEM certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused("the signing certificate does not hold an RSA key")
    return key


class HttpsSnsLinks:
    """Fetches signing certificates (kept, a few URLs' worth) and opens SubscribeURLs.

    Redirects are not followed: the URL was checked, where it leads was not.
    """

    def __init__(self, client: httpx.Client | None = None, keep: int = 16) -> None:
        self._client = client
        self._keep = keep
        self._certificates: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def certificate(self, url: str) -> bytes:
        with self._lock:
            if url in self._certificates:
                return self._certificates[url]
        pem = self._get(url, "signing certificate")
        with self._lock:
            if len(self._certificates) >= self._keep:
                self._certificates.pop(next(iter(self._certificates)))
            self._certificates[url] = pem
        return pem

    def confirm(self, url: str) -> None:
        self._get(url, "subscription confirmation")

    def _get(self, url: str, what: str) -> bytes:
        with self._lock:
            if self._client is None:  # made on first use: building the app opens nothing
                self._client = httpx.Client(timeout=10.0, follow_redirects=False)
            client = self._client
        try:
            response = client.get(url)
        except httpx.HTTPError as error:
            raise Unavailable(f"{what}: {url}: {error}") from None
        if response.status_code != 200:
            raise Unavailable(f"{what}: {url} answered {response.status_code}")
        if len(response.content) > MAX_CERTIFICATE_BYTES:
            raise Unavailable(f"{what}: {url}: over {MAX_CERTIFICATE_BYTES} bytes")
        return response.content
