"""Signed tokens for the links in our emails (and the forms of the pages they open).

Links carry a token instead of an email address or a bare id, so nobody can
unsubscribe or confirm someone else by editing a URL.  Each purpose signs with
its own salt, so a token made for one purpose is refused by every other.
Unsubscribe tokens never expire (an old email must keep working); confirm
tokens carry a timestamp and expire.

A row id alone would outlive its row: an id handed out again (or a row
restored under an old id) would inherit every link of the removed row.  So
each token also carries its row's random `link_key` ("k"), and the page that
reads it acts only when the row it loads still holds that key (`minted_for`).
Links minted before link keys carry none; they pass only for rows marked
`legacy_links`, which rows created since never are.

Only the one text we mint verifies: base64 decoders forgive padding, stray
characters and the unused low bits of the last character, so many spellings
would decode to the same signature.  Each part must read back exactly as it
re-encodes (`canonical`), form tokens included.

Keys are given newest first (as in `Settings.secret_keys`): new tokens are
signed with the newest key and tokens signed with any listed key still verify,
which is how a key is rotated.

Signing is itsdangerous (sha256, the purpose as salt), so a token's format is
the library's.  A digest signs several links, so untimed tokens skip what
`dumps` redoes per call (a new JSON encoder, a new Signer, the key
derivation, a new HMAC): the payload is packed as `dump_payload` packs it
(`_packed`, its JSON written out directly) and signed with the HMAC of the
derived key, kept per keys and purpose (`_Minter`); the preferences and
unsubscribe-all links carry the same payload, packed once (`account_links`).
Tests pin tokens made for fixed keys and inputs and hold them equal to `dumps`
for every purpose, payload shape and key list.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import zlib
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
from itsdangerous.encoding import base64_decode, base64_encode

from worker.core.config import Settings

CONFIRM_MAX_AGE = timedelta(days=7)
_SIGNER_OPTIONS: dict[str, Any] = {"digest_method": hashlib.sha256}
# A token minted on a machine whose clock runs slightly ahead is still fresh.
CLOCK_SKEW = timedelta(minutes=5)


class BadToken(Exception):
    """The token is forged, tampered with, expired, or made for another purpose."""


@dataclass(frozen=True)
class Purpose:
    fields: dict[str, type]
    timed: bool = False


LINK_KEY = "k"  # the payload field holding the row's link key
PURPOSES: dict[str, Purpose] = {
    # List-Unsubscribe: stops one digest stream (a frequency) of a subscriber.
    "unsubscribe-stream": Purpose({"s": int, "f": str, LINK_KEY: str}),
    # Per-section link: stops one subscription.
    "unsubscribe-subscription": Purpose({"s": int, "sub": int, LINK_KEY: str}),
    "unsubscribe-all": Purpose({"s": int, LINK_KEY: str}),
    "preferences": Purpose({"s": int, LINK_KEY: str}),
    # Double opt-in of a public sign-up.
    "confirm": Purpose({"p": int, LINK_KEY: str}, timed=True),
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class _StampedSigner(TimestampSigner):
    """Stamps a given time instead of the wall clock: the hook itsdangerous documents."""

    def __init__(self, *args: Any, stamp: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stamp = stamp

    def get_timestamp(self) -> int:
        return super().get_timestamp() if self.stamp is None else self.stamp


_AnySerializer = URLSafeSerializer | URLSafeTimedSerializer


def _oldest_first(keys: Sequence[str]) -> list[str]:
    """itsdangerous signs with the LAST key of its list and verifies with all of them."""
    if not keys:
        raise ValueError("no secret keys configured: tokens cannot be signed")
    return list(reversed(keys))


def _new_serializer(
    keys: tuple[str, ...], purpose: str, stamp: int | None = None
) -> _AnySerializer:
    """The itsdangerous serializer of `purpose`; `stamp` fixes the time of timed tokens."""
    oldest_first = _oldest_first(keys)
    if PURPOSES[purpose].timed:
        return URLSafeTimedSerializer(
            oldest_first,
            salt=purpose,
            signer=_StampedSigner,
            signer_kwargs={**_SIGNER_OPTIONS, "stamp": stamp},
        )
    return URLSafeSerializer(oldest_first, salt=purpose, signer_kwargs=_SIGNER_OPTIONS)


# One serializer per keys and purpose; stamped ones (rare: a confirm email) are built per token.
_serializer = lru_cache(maxsize=64)(_new_serializer)


# How JSONEncoder(ensure_ascii=False) quotes a string.
_json_string = json.encoder.encode_basestring


def _compact_json(payload: dict[str, Any]) -> str:
    """itsdangerous' compact JSON (`_CompactJSON.dumps`) of a flat payload of ints and strings.

    Written out here: `JSONEncoder.encode` builds a new C encoder on every call.
    """
    members = [
        f"{_json_string(name)}:{value if type(value) is int else _json_string(value)}"
        for name, value in payload.items()
    ]
    return "{" + ",".join(members) + "}"


def _packed(payload: dict[str, Any]) -> bytes:
    """The payload part of an untimed token, as `URLSafeSerializer.dump_payload` makes it.

    Compact JSON, zlib-compressed when that saves more than one byte (then
    marked by a leading "."), base64url without padding.  The payload is
    well-formed (`_well_formed`): its values are ints and strings.
    """
    text = _compact_json(payload).encode()
    compressed = zlib.compress(text)
    if len(compressed) < len(text) - 1:
        return b"." + base64_encode(compressed)
    return base64_encode(text)


class _Minter:
    """`serializer.dumps` of an untimed purpose, with its signer's key derived once."""

    def __init__(self, serializer: _AnySerializer) -> None:
        signer = serializer.make_signer()
        self._separator = signer.sep
        self._mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)

    def signed(self, packed: bytes) -> str:
        """The token of a payload `_packed` gave."""
        mac = self._mac.copy()
        mac.update(packed)
        return (packed + self._separator + base64_encode(mac.digest())).decode("utf-8")


@lru_cache(maxsize=64)
def _minter(keys: tuple[str, ...], purpose: str) -> _Minter:
    return _Minter(_serializer(keys, purpose))


@lru_cache(maxsize=8)
def _form_signer(keys: tuple[str, ...]) -> Signer:
    return Signer(_oldest_first(keys), salt="form", **_SIGNER_OPTIONS)


def form_signer(keys: Sequence[str]) -> Signer:
    """The signer of values a page signs for itself, such as its forms' anti-forgery tokens.

    Same keys and algorithm as the link tokens, its own salt ("form", no
    purpose's name): the newest key signs, every listed key verifies, and a
    link token never passes for one of these.
    """
    return _form_signer(tuple(keys))


def _purpose(purpose: str) -> Purpose:
    try:
        return PURPOSES[purpose]
    except KeyError:
        raise ValueError(f"unknown token purpose {purpose!r}") from None


def _well_formed(purpose: Purpose, payload: Any, *, keyless_ok: bool = False) -> bool:
    """Exactly the purpose's fields; `keyless_ok` lets a link from before link keys pass."""
    if not isinstance(payload, dict):
        return False
    fields = purpose.fields
    if keyless_ok and LINK_KEY not in payload:
        fields = {name: kind for name, kind in fields.items() if name != LINK_KEY}
    if payload.keys() != fields.keys():
        return False
    for name, kind in fields.items():  # a loop, not all(): a digest checks several payloads
        # bool is an int subclass; a payload of True is never an id.
        if type(payload[name]) is not kind or (kind is int and payload[name] < 0):
            return False
    return LINK_KEY not in payload or bool(payload[LINK_KEY])


def canonical(part: str) -> bool:
    """Whether `part` is base64url (no padding) spelled exactly as its bytes encode."""
    if not _BASE64URL.fullmatch(part):
        return False
    try:
        return base64_encode(base64_decode(part)) == part.encode()
    except BadData:
        return False


def _canonical(token: str) -> bool:
    """Two or three canonical parts (a compressed payload starts with one more dot)."""
    parts = token.removeprefix(".").split(".")
    return 2 <= len(parts) <= 3 and all(canonical(part) for part in parts)


def make_token(
    keys: Sequence[str], purpose: str, payload: dict[str, Any], *, now: datetime | None = None
) -> str:
    """Sign `payload` for `purpose` with the newest key; `now` stamps timed tokens."""
    spec = _purpose(purpose)
    if not _well_formed(spec, payload):
        raise ValueError(f"payload {payload!r} does not fit purpose {purpose!r}")
    if not spec.timed:
        return _minter(tuple(keys), purpose).signed(_packed(payload))
    if now is not None:
        serializer = _new_serializer(tuple(keys), purpose, stamp=int(now.timestamp()))
    else:
        serializer = _serializer(tuple(keys), purpose)
    token: str = serializer.dumps(payload)
    return token


def read_token(
    keys: Sequence[str],
    purpose: str,
    token: str,
    max_age: timedelta | int | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Verify and decode a token; raises BadToken for anything wrong with it.

    The payload may lack the link key (a link from before link keys): the
    caller checks it against its row with `minted_for` either way.
    `max_age` (a timedelta or seconds) applies to timed purposes only
    (default: 7 days for "confirm").
    """
    spec = _purpose(purpose)
    if max_age is not None and not spec.timed:
        raise ValueError(f"{purpose!r} tokens do not expire; max_age does not apply")
    if not _canonical(token):
        raise BadToken(f"invalid {purpose} token")
    serializer = _serializer(tuple(keys), purpose)
    try:
        if spec.timed:
            payload, signed_at = serializer.loads(token, return_timestamp=True)
        else:
            payload = serializer.loads(token)
    except (BadData, UnicodeError, ValueError, TypeError) as error:
        raise BadToken(f"invalid {purpose} token") from error
    if not _well_formed(spec, payload, keyless_ok=True):
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


def minted_for(token_key: str | None, link_key: str, legacy_links: bool) -> bool:
    """Whether a verified token (its `LINK_KEY`, None when it has none) was minted for this row.

    Not for an earlier row with the same id.  Compared in constant time: the
    comparison must not tell anyone how much of a key they guessed.
    """
    if token_key is None:
        return legacy_links
    return hmac.compare_digest(token_key.encode(), link_key.encode())


@lru_cache(maxsize=8)
def _domain_of(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def mail_domain(settings: Settings) -> str:
    """The domain of the From address: for mailto: links, List-Id and Message-IDs."""
    return _domain_of(settings.mail_from)


def unsubscribe_stream_token(
    settings: Settings, subscriber_id: int, frequency: str, *, link_key: str
) -> str:
    return make_token(
        settings.secret_keys,
        "unsubscribe-stream",
        {"s": subscriber_id, "f": frequency, LINK_KEY: link_key},
    )


def stream_unsubscribe_links(
    settings: Settings, subscriber_id: int, frequency: str, *, link_key: str
) -> tuple[str, str]:
    """(https URL, mailto: URL) stopping one digest stream, sharing one token."""
    token = unsubscribe_stream_token(settings, subscriber_id, frequency, link_key=link_key)
    return (
        f"{settings.base_url}/u/{token}",
        f"mailto:unsubscribe@{mail_domain(settings)}?subject=unsubscribe%20{token}",
    )


def unsubscribe_url(
    settings: Settings, subscriber_id: int, frequency: str, *, link_key: str
) -> str:
    """One-click target: stops the subscriber's digests of this frequency."""
    return stream_unsubscribe_links(settings, subscriber_id, frequency, link_key=link_key)[0]


def unsubscribe_mailto(
    settings: Settings, subscriber_id: int, frequency: str, *, link_key: str
) -> str:
    """The mailto: alternative of List-Unsubscribe, carrying the same token."""
    return stream_unsubscribe_links(settings, subscriber_id, frequency, link_key=link_key)[1]


def unsubscribe_subscription_url(
    settings: Settings, subscriber_id: int, subscription_id: int, *, link_key: str
) -> str:
    """Stops one subscription (the per-section link)."""
    token = make_token(
        settings.secret_keys,
        "unsubscribe-subscription",
        {"s": subscriber_id, "sub": subscription_id, LINK_KEY: link_key},
    )
    return f"{settings.base_url}/u/s/{token}"


def unsubscribe_all_url(settings: Settings, subscriber_id: int, *, link_key: str) -> str:
    """Stops every subscription of the subscriber."""
    token = make_token(
        settings.secret_keys, "unsubscribe-all", {"s": subscriber_id, LINK_KEY: link_key}
    )
    return f"{settings.base_url}/u/all/{token}"


def account_links(settings: Settings, subscriber_id: int, *, link_key: str) -> tuple[str, str]:
    """(preferences URL, unsubscribe-all URL): one payload, packed once, signed for each."""
    payload = {"s": subscriber_id, LINK_KEY: link_key}
    for purpose in ("preferences", "unsubscribe-all"):
        if not _well_formed(PURPOSES[purpose], payload):
            raise ValueError(f"payload {payload!r} does not fit purpose {purpose!r}")
    keys = tuple(settings.secret_keys)
    packed = _packed(payload)
    return (
        f"{settings.base_url}/preferences/{_minter(keys, 'preferences').signed(packed)}",
        f"{settings.base_url}/u/all/{_minter(keys, 'unsubscribe-all').signed(packed)}",
    )


def preferences_token(keys: Sequence[str], subscriber_id: int, link_key: str) -> str:
    return make_token(keys, "preferences", {"s": subscriber_id, LINK_KEY: link_key})


def preferences_url(settings: Settings, subscriber_id: int, *, link_key: str) -> str:
    token = preferences_token(settings.secret_keys, subscriber_id, link_key)
    return f"{settings.base_url}/preferences/{token}"


def confirm_url(
    settings: Settings, signup_id: int, *, link_key: str, now: datetime | None = None
) -> str:
    """Double opt-in link; valid for CONFIRM_MAX_AGE from `now`."""
    token = make_token(
        settings.secret_keys, "confirm", {"p": signup_id, LINK_KEY: link_key}, now=now
    )
    return f"{settings.base_url}/confirm/{token}"
