"""Signed tokens for the links in our emails.

Links carry a token instead of an email address or a bare id, so nobody can
unsubscribe or confirm someone else by editing a URL.  Each purpose signs with
its own salt, so a token made for one purpose is refused by every other.
Unsubscribe tokens never expire (an old email must keep working); confirm
tokens carry a timestamp and expire.

Keys are given newest first (as in `Settings.secret_keys`): new tokens are
signed with the newest key and tokens signed with any listed key still verify,
which is how a key is rotated.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

from itsdangerous import (
    BadData,
    Signer,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_encode

from worker.core.config import Settings

CONFIRM_MAX_AGE = timedelta(days=7)
_SIGNER_OPTIONS = {"digest_method": hashlib.sha256}
# A token minted on a machine whose clock runs slightly ahead is still fresh.
CLOCK_SKEW = timedelta(minutes=5)


class BadToken(Exception):
    """The token is forged, tampered with, expired, or made for another purpose."""


@dataclass(frozen=True)
class Purpose:
    fields: dict[str, type]
    timed: bool = False


PURPOSES: dict[str, Purpose] = {
    # List-Unsubscribe: stops one digest stream (a frequency) of a subscriber.
    "unsubscribe-stream": Purpose({"s": int, "f": str}),
    # Per-section link: stops one subscription.
    "unsubscribe-subscription": Purpose({"s": int, "sub": int}),
    "unsubscribe-all": Purpose({"s": int}),
    "preferences": Purpose({"s": int}),
    # Double opt-in of a public sign-up.
    "confirm": Purpose({"p": int}, timed=True),
}


class _KeyCachingSigner(Signer):
    """Derives its signing key once instead of on every signature."""

    _derived: bytes | None = None

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is not None:
            return super().derive_key(secret_key)
        if self._derived is None:
            self._derived = super().derive_key()
        return self._derived


class _FastURLSafeSerializer(URLSafeSerializer):
    """itsdangerous' URLSafeSerializer minus per-call overhead, same tokens.

    It keeps its signer instead of building one per token, and skips the zlib
    attempt: payloads of a few ids never compress, so the output is identical
    (and compressed tokens still load).
    """

    _signer: Signer | None = None

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is not None and salt != self.salt:
            return super().make_signer(salt)
        if self._signer is None:
            self._signer = super().make_signer(salt)
        return self._signer

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs))


_AnySerializer = URLSafeSerializer | URLSafeTimedSerializer


@lru_cache(maxsize=64)
def _serializer(keys: tuple[str, ...], purpose: str) -> _AnySerializer:
    """Building a serializer costs more than signing with it: keep one per keys and purpose."""
    if not keys:
        raise ValueError("no secret keys configured: tokens cannot be signed")
    # itsdangerous signs with the LAST key of the list and verifies with all of them.
    oldest_first = list(reversed(keys))
    if PURPOSES[purpose].timed:
        return URLSafeTimedSerializer(oldest_first, salt=purpose, signer_kwargs=_SIGNER_OPTIONS)
    return _FastURLSafeSerializer(
        oldest_first, salt=purpose, signer=_KeyCachingSigner, signer_kwargs=_SIGNER_OPTIONS
    )


@lru_cache(maxsize=64)
def _keyed_hmac(newest_key: str, purpose: str) -> hmac.HMAC:
    """An HMAC already keyed the way itsdangerous derives keys ("django-concat", salt = purpose).

    Copying it per token skips the key setup, the bulk of an HMAC this short.
    """
    key = hashlib.sha256(purpose.encode("utf-8") + b"signer" + newest_key.encode("utf-8")).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


_json_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


def _compact_json(payload: dict[str, Any]) -> str:
    """json.dumps(payload, separators=(",", ":"), ensure_ascii=False), as itsdangerous writes it.

    Payloads are checked flat dicts of ints and strings (`_well_formed`), which
    this writes directly instead of building an encoder per token.
    """
    return (
        "{"
        + ",".join(
            f"{_json_string(name)}:{value if type(value) is int else _json_string(value)}"
            for name, value in payload.items()
        )
        + "}"
    )


def _sign_untimed(newest_key: str, purpose: str, payload: dict[str, Any]) -> str:
    """The token itsdangerous' URLSafeSerializer makes, in one HMAC call.

    A digest carries several tokens; going through the serializer's layers
    cost more than the rest of the digest's context.  Payloads of a few ids
    never compress, so there is no zlib step (compressed tokens still load).
    """
    value = _urlsafe_b64(_compact_json(payload).encode("utf-8"))
    mac = _keyed_hmac(newest_key, purpose).copy()
    mac.update(value)
    signature = mac.digest()
    return (value + b"." + _urlsafe_b64(signature)).decode("ascii")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _urlsafe_b64(raw: bytes) -> bytes:
    """itsdangerous' base64_encode: the URL-safe alphabet, no padding."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=")


def _purpose(purpose: str) -> Purpose:
    try:
        return PURPOSES[purpose]
    except KeyError:
        raise ValueError(f"unknown token purpose {purpose!r}") from None


def _well_formed(purpose: Purpose, payload: Any) -> bool:
    if not isinstance(payload, dict) or payload.keys() != purpose.fields.keys():
        return False
    # bool is an int subclass; a payload of True is never an id.
    return all(
        type(payload[name]) is kind and (kind is not int or payload[name] >= 0)
        for name, kind in purpose.fields.items()
    )


class _FixedClockSigner(TimestampSigner):
    """Stamps tokens with a given time instead of the wall clock."""

    def __init__(self, *args: Any, stamp: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stamp = stamp

    def get_timestamp(self) -> int:
        return self.stamp


def make_token(
    keys: Sequence[str], purpose: str, payload: dict[str, Any], *, now: datetime | None = None
) -> str:
    """Sign `payload` for `purpose` with the newest key; `now` stamps timed tokens."""
    spec = _purpose(purpose)
    if not _well_formed(spec, payload):
        raise ValueError(f"payload {payload!r} does not fit purpose {purpose!r}")
    if not keys:
        raise ValueError("no secret keys configured: tokens cannot be signed")
    if not spec.timed:
        return _sign_untimed(keys[0], purpose, payload)
    serializer = _serializer(tuple(keys), purpose)
    if now is not None:
        serializer = URLSafeTimedSerializer(
            list(reversed(tuple(keys))),
            salt=purpose,
            signer=_FixedClockSigner,
            signer_kwargs={**_SIGNER_OPTIONS, "stamp": int(now.timestamp())},
        )
    return serializer.dumps(payload)


def read_token(
    keys: Sequence[str],
    purpose: str,
    token: str,
    max_age: timedelta | int | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Verify and decode a token; raises BadToken for anything wrong with it.

    `max_age` (a timedelta or seconds) applies to timed purposes only
    (default: 7 days for "confirm").
    """
    spec = _purpose(purpose)
    if max_age is not None and not spec.timed:
        raise ValueError(f"{purpose!r} tokens do not expire; max_age does not apply")
    serializer = _serializer(tuple(keys), purpose)
    try:
        if spec.timed:
            payload, signed_at = serializer.loads(token, return_timestamp=True)
        else:
            payload = serializer.loads(token)
    except (BadData, UnicodeError, ValueError, TypeError) as error:
        raise BadToken(f"invalid {purpose} token") from error
    if not _well_formed(spec, payload):
        raise BadToken(f"invalid {purpose} token payload")
    if spec.timed:
        age = (now or datetime.now(UTC)) - signed_at
        if max_age is None:
            max_age = CONFIRM_MAX_AGE
        elif isinstance(max_age, int):
            max_age = timedelta(seconds=max_age)
        if age > max_age:
            raise BadToken(f"{purpose} token expired")
        if age < -CLOCK_SKEW:
            raise BadToken(f"{purpose} token is from the future")
    return payload


@lru_cache(maxsize=8)
def _domain_of(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def mail_domain(settings: Settings) -> str:
    """The domain of the From address: for mailto: links, List-Id and Message-IDs."""
    return _domain_of(settings.mail_from)


def unsubscribe_stream_token(settings: Settings, subscriber_id: int, frequency: str) -> str:
    return make_token(
        settings.secret_keys, "unsubscribe-stream", {"s": subscriber_id, "f": frequency}
    )


def stream_unsubscribe_links(
    settings: Settings, subscriber_id: int, frequency: str
) -> tuple[str, str]:
    """(https URL, mailto: URL) stopping one digest stream, sharing one token."""
    token = unsubscribe_stream_token(settings, subscriber_id, frequency)
    return (
        f"{settings.base_url}/u/{token}",
        f"mailto:unsubscribe@{mail_domain(settings)}?subject=unsubscribe%20{token}",
    )


def unsubscribe_url(settings: Settings, subscriber_id: int, frequency: str) -> str:
    """One-click target: stops the subscriber's digests of this frequency."""
    return stream_unsubscribe_links(settings, subscriber_id, frequency)[0]


def unsubscribe_mailto(settings: Settings, subscriber_id: int, frequency: str) -> str:
    """The mailto: alternative of List-Unsubscribe, carrying the same token."""
    return stream_unsubscribe_links(settings, subscriber_id, frequency)[1]


def list_unsubscribe_header(settings: Settings, subscriber_id: int, frequency: str) -> str:
    """The List-Unsubscribe value: `<https://…/u/TOKEN>, <mailto:…>`."""
    url, mailto = stream_unsubscribe_links(settings, subscriber_id, frequency)
    return f"<{url}>, <{mailto}>"


def unsubscribe_subscription_url(
    settings: Settings, subscriber_id: int, subscription_id: int
) -> str:
    """Stops one subscription (the per-section link)."""
    token = make_token(
        settings.secret_keys,
        "unsubscribe-subscription",
        {"s": subscriber_id, "sub": subscription_id},
    )
    return f"{settings.base_url}/u/s/{token}"


def unsubscribe_all_url(settings: Settings, subscriber_id: int) -> str:
    """Stops every subscription of the subscriber."""
    token = make_token(settings.secret_keys, "unsubscribe-all", {"s": subscriber_id})
    return f"{settings.base_url}/u/all/{token}"


def preferences_url(settings: Settings, subscriber_id: int) -> str:
    token = make_token(settings.secret_keys, "preferences", {"s": subscriber_id})
    return f"{settings.base_url}/preferences/{token}"


def confirm_url(settings: Settings, signup_id: int, *, now: datetime | None = None) -> str:
    """Double opt-in link; valid for CONFIRM_MAX_AGE from `now`."""
    token = make_token(settings.secret_keys, "confirm", {"p": signup_id}, now=now)
    return f"{settings.base_url}/confirm/{token}"
