"""Signed link tokens: scoped to one purpose and one row, rotatable keys, confirm links expire."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_decode

from worker.core.config import Settings
from worker.core.tokens import (
    PURPOSES,
    BadToken,
    account_links,
    confirm_url,
    make_token,
    minted_for,
    preferences_token,
    preferences_url,
    read_token,
    unsubscribe_all_url,
    unsubscribe_mailto,
    unsubscribe_subscription_url,
    unsubscribe_url,
)

NEW_KEY = "new-key-0123456789abcdef"
OLD_KEY = "old-key-0123456789abcdef"
KEYS = (NEW_KEY, OLD_KEY)  # newest first, as in Settings.secret_keys
NOW = datetime(2026, 6, 27, 9, 0, tzinfo=UTC)
SETTINGS = Settings(
    secret_keys=KEYS,
    base_url="https://alerts.example.org",
    mail_from="Trialalerts <alerts@mail.example.org>",
)

LINK = "Zq3v9x_link-key-0123456"  # a row's link key, as new_link_key() makes them
PAYLOADS: dict[str, dict[str, Any]] = {
    "unsubscribe-stream": {"s": 42, "f": "daily", "k": LINK},
    "unsubscribe-subscription": {"s": 42, "sub": 7, "k": LINK},
    "unsubscribe-all": {"s": 42, "k": LINK},
    "preferences": {"s": 42, "k": LINK},
    "confirm": {"p": 1001, "k": LINK},
}
KEYLESS = {purpose: {n: v for n, v in p.items() if n != "k"} for purpose, p in PAYLOADS.items()}


# Made with KEYS (confirm: at NOW) before link keys; links like these sit in
# emails already sent and must keep working (for rows marked legacy_links).
ISSUED_EARLIER = {
    "unsubscribe-stream": "eyJzIjo0MiwiZiI6ImRhaWx5In0.xOhD9oBWKwUHYagmhe9gdM0WHGVbm9uZbb0AN-je6_E",
    "unsubscribe-subscription": (
        "eyJzIjo0Miwic3ViIjo3fQ.ISg7aMt1T-yfl6jIgHVCT-5xwtRcVtQO5oObxS9kymM"
    ),
    "unsubscribe-all": "eyJzIjo0Mn0.o0AH1DlcW1RW3u0UciSmLpz7PqBy2XmUMUQuoSCmJZ0",
    "preferences": "eyJzIjo0Mn0.o1aE-p2o_8Qq4frYQIoAMd3jTrgvdbOJHcZ_ButvBu4",
    "confirm": "eyJwIjoxMDAxfQ.aj-REA.tSqW1bb8AXApDX9Wx9U3UuSYeFJf5Du68WgRXbye2Yc",
}


def _token_in(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def test_every_purpose_is_covered_here() -> None:
    assert set(PAYLOADS) == set(PURPOSES)


@pytest.mark.parametrize("purpose", sorted(PAYLOADS))
def test_a_token_reads_back_as_its_payload(purpose: str) -> None:
    token = make_token(KEYS, purpose, PAYLOADS[purpose], now=NOW)
    assert read_token(KEYS, purpose, token, now=NOW) == PAYLOADS[purpose]


@pytest.mark.parametrize("purpose", sorted(ISSUED_EARLIER))
def test_a_keyless_token_issued_earlier_still_verifies(purpose: str) -> None:
    token = ISSUED_EARLIER[purpose]
    assert read_token(KEYS, purpose, token, now=NOW) == KEYLESS[purpose]


@pytest.mark.parametrize("purpose", sorted(PAYLOADS))
def test_no_token_is_made_without_its_rows_link_key(purpose: str) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make_token(KEYS, purpose, KEYLESS[purpose], now=NOW)
    with pytest.raises(ValueError, match="does not fit"):
        make_token(KEYS, purpose, {**PAYLOADS[purpose], "k": ""}, now=NOW)


def test_a_token_belongs_to_the_row_holding_its_link_key() -> None:
    assert minted_for(LINK, LINK, legacy_links=False)
    assert not minted_for(LINK, "another-rows-link-key00", legacy_links=False)
    assert not minted_for(LINK, "another-rows-link-key00", legacy_links=True)
    # A link from before link keys: only rows that existed then accept it.
    assert minted_for(None, LINK, legacy_links=True)
    assert not minted_for(None, LINK, legacy_links=False)


@pytest.mark.parametrize("purpose", sorted(PAYLOADS))
def test_a_token_is_url_safe(purpose: str) -> None:
    token = make_token(KEYS, purpose, PAYLOADS[purpose], now=NOW)
    assert token.replace("-", "").replace("_", "").replace(".", "").isalnum()


def test_tokens_for_different_subscribers_differ() -> None:
    first = make_token(KEYS, "unsubscribe-all", {"s": 1, "k": LINK})
    second = make_token(KEYS, "unsubscribe-all", {"s": 2, "k": LINK})
    assert first != second


def test_new_tokens_are_signed_with_the_newest_key() -> None:
    token = make_token(KEYS, "unsubscribe-all", PAYLOADS["unsubscribe-all"])
    assert read_token((NEW_KEY,), "unsubscribe-all", token) == PAYLOADS["unsubscribe-all"]
    with pytest.raises(BadToken):
        read_token((OLD_KEY,), "unsubscribe-all", token)


def test_a_token_signed_with_a_retired_key_still_verifies_after_rotation() -> None:
    payload = {"s": 42, "f": "weekly", "k": LINK}
    old_token = make_token((OLD_KEY,), "unsubscribe-stream", payload)
    rotated = ("brand-new-key-0123456789", OLD_KEY)
    assert read_token(rotated, "unsubscribe-stream", old_token) == payload


def test_a_token_signed_with_a_key_no_longer_listed_is_refused() -> None:
    old_token = make_token((OLD_KEY,), "preferences", PAYLOADS["preferences"])
    with pytest.raises(BadToken):
        read_token((NEW_KEY,), "preferences", old_token)


def test_tokens_are_compatible_with_itsdangerous_itself() -> None:
    """Key order: itsdangerous signs with the last key of its list, we list newest first."""
    reference = URLSafeSerializer(
        [OLD_KEY, NEW_KEY], salt="unsubscribe-all", signer_kwargs={"digest_method": hashlib.sha256}
    )
    token = make_token(KEYS, "unsubscribe-all", {"s": 42, "k": LINK})
    assert token == reference.dumps({"s": 42, "k": LINK})
    assert read_token(KEYS, "unsubscribe-all", reference.dumps({"s": 9, "k": LINK})) == {
        "s": 9,
        "k": LINK,
    }


def _respellings(token: str) -> list[str]:
    """Other texts a lenient base64 decoder reads as the same token."""
    head, _, signature = token.rpartition(".")
    signed = base64_decode(signature)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bits = [
        f"{head}.{signature[:-1]}{char}"
        for char in alphabet
        if char != signature[-1] and base64_decode(signature[:-1] + char) == signed
    ]
    assert same_bits  # a 32-byte signature leaves 2 bits of its last character unused
    return [*same_bits, token + "=", token + "==", token[:8] + "é" + token[8:], token + "\n"]


@pytest.mark.parametrize("purpose", sorted(PAYLOADS))
def test_only_the_canonical_spelling_of_a_token_verifies(purpose: str) -> None:
    token = make_token(KEYS, purpose, PAYLOADS[purpose], now=NOW)
    for other in [*_respellings(token), *_respellings(ISSUED_EARLIER[purpose])]:
        with pytest.raises(BadToken):
            read_token(KEYS, purpose, other, now=NOW)


@pytest.mark.parametrize("position", [0, 5, -3, -20])
def test_a_tampered_token_is_refused(position: int) -> None:
    token = make_token(KEYS, "unsubscribe-subscription", {"s": 42, "sub": 7, "k": LINK})
    chars = list(token)
    chars[position] = "z" if chars[position] in "ABCDEFGH" else "A"
    with pytest.raises(BadToken):
        read_token(KEYS, "unsubscribe-subscription", "".join(chars))


def test_a_truncated_token_is_refused() -> None:
    token = make_token(KEYS, "preferences", PAYLOADS["preferences"])
    with pytest.raises(BadToken):
        read_token(KEYS, "preferences", token[:-4])


def test_a_payload_swapped_between_two_tokens_is_refused() -> None:
    mine = make_token(KEYS, "unsubscribe-all", {"s": 1, "k": LINK})
    theirs = make_token(KEYS, "unsubscribe-all", {"s": 2, "k": LINK})
    forged = theirs.split(".")[0] + "." + mine.split(".")[1]
    with pytest.raises(BadToken):
        read_token(KEYS, "unsubscribe-all", forged)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b.c", "💥.💥", "x" * 5000])
def test_garbage_is_refused_with_bad_token(garbage: str) -> None:
    for purpose in PAYLOADS:
        with pytest.raises(BadToken):
            read_token(KEYS, purpose, garbage, now=NOW)


@pytest.mark.parametrize(
    ("made_for", "used_for"),
    [
        ("preferences", "unsubscribe-all"),
        ("unsubscribe-all", "preferences"),
        ("unsubscribe-stream", "unsubscribe-subscription"),
        ("unsubscribe-subscription", "unsubscribe-all"),
        ("confirm", "unsubscribe-all"),
    ],
)
def test_a_token_for_one_purpose_is_refused_for_another(made_for: str, used_for: str) -> None:
    token = make_token(KEYS, made_for, PAYLOADS[made_for], now=NOW)
    with pytest.raises(BadToken):
        read_token(KEYS, used_for, token, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        {"s": "42"},
        {"s": True},
        {"s": 4.2},
        {"s": None},
        {"s": 42, "x": 1},
        {"s": 42, "k": 7},
        {"s": 42, "k": ""},
        {"s": 42, "k": None},
        [42],
        42,
    ],
)
def test_a_correctly_signed_token_with_a_malformed_payload_is_refused(payload: object) -> None:
    """A signed payload of the wrong shape (an older format, a bug) is as bad as a forgery."""
    signer = URLSafeSerializer(
        [NEW_KEY], salt="unsubscribe-all", signer_kwargs={"digest_method": hashlib.sha256}
    )
    with pytest.raises(BadToken):
        read_token(KEYS, "unsubscribe-all", signer.dumps(payload))


def test_making_a_token_with_a_malformed_payload_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make_token(KEYS, "unsubscribe-stream", {"s": 42, "k": LINK})
    with pytest.raises(ValueError, match="unknown token purpose"):
        make_token(KEYS, "login", {"s": 42, "k": LINK})
    with pytest.raises(ValueError, match="no secret keys"):
        make_token((), "preferences", {"s": 42, "k": LINK})


def test_unsubscribe_tokens_never_expire() -> None:
    token = make_token(KEYS, "unsubscribe-stream", PAYLOADS["unsubscribe-stream"])
    assert read_token(KEYS, "unsubscribe-stream", token, now=NOW + timedelta(days=3650))
    with pytest.raises(ValueError, match="do not expire"):
        read_token(KEYS, "unsubscribe-stream", token, max_age=timedelta(days=1))


def test_a_confirm_token_is_valid_for_seven_days_by_default() -> None:
    token = make_token(KEYS, "confirm", {"p": 5, "k": LINK}, now=NOW)
    assert read_token(KEYS, "confirm", token, now=NOW + timedelta(days=7)) == {"p": 5, "k": LINK}
    with pytest.raises(BadToken, match="expired"):
        read_token(KEYS, "confirm", token, now=NOW + timedelta(days=7, seconds=1))


@pytest.mark.parametrize("max_age", [timedelta(hours=1), 3600])
def test_a_confirm_token_honours_a_shorter_max_age(max_age: timedelta | int) -> None:
    token = make_token(KEYS, "confirm", {"p": 5, "k": LINK}, now=NOW)
    assert read_token(KEYS, "confirm", token, max_age=max_age, now=NOW + timedelta(minutes=59))
    with pytest.raises(BadToken, match="expired"):
        read_token(KEYS, "confirm", token, max_age=max_age, now=NOW + timedelta(hours=2))


def test_a_confirm_token_from_the_future_is_refused_beyond_clock_skew() -> None:
    token = make_token(KEYS, "confirm", {"p": 5, "k": LINK}, now=NOW)
    assert read_token(KEYS, "confirm", token, now=NOW - timedelta(minutes=1)) == {"p": 5, "k": LINK}
    with pytest.raises(BadToken):
        read_token(KEYS, "confirm", token, now=NOW - timedelta(hours=1))


def test_a_confirm_token_without_a_given_time_uses_the_clock() -> None:
    token = make_token(KEYS, "confirm", {"p": 5, "k": LINK})
    assert read_token(KEYS, "confirm", token) == {"p": 5, "k": LINK}


def test_link_urls_point_at_their_routes_with_tokens_of_their_purpose() -> None:
    routes = [
        (
            unsubscribe_url(SETTINGS, 42, "daily", link_key=LINK),
            "/u/",
            "unsubscribe-stream",
            PAYLOADS["unsubscribe-stream"],
        ),
        (
            unsubscribe_subscription_url(SETTINGS, 42, 7, link_key=LINK),
            "/u/s/",
            "unsubscribe-subscription",
            PAYLOADS["unsubscribe-subscription"],
        ),
        (
            unsubscribe_all_url(SETTINGS, 42, link_key=LINK),
            "/u/all/",
            "unsubscribe-all",
            PAYLOADS["unsubscribe-all"],
        ),
        (
            preferences_url(SETTINGS, 42, link_key=LINK),
            "/preferences/",
            "preferences",
            PAYLOADS["preferences"],
        ),
        (
            confirm_url(SETTINGS, 1001, link_key=LINK, now=NOW),
            "/confirm/",
            "confirm",
            PAYLOADS["confirm"],
        ),
    ]
    for url, route, purpose, payload in routes:
        token = _token_in(url)
        assert url == f"https://alerts.example.org{route}{token}"
        assert read_token(KEYS, purpose, token, now=NOW) == payload
    assert preferences_token(KEYS, 42, LINK) == _token_in(routes[3][0])


def test_the_mailto_unsubscribe_goes_to_the_sending_domain_with_the_stream_token() -> None:
    mailto = unsubscribe_mailto(SETTINGS, 42, "weekly", link_key=LINK)
    prefix = "mailto:unsubscribe@mail.example.org?subject=unsubscribe%20"
    assert mailto.startswith(prefix)
    token = unquote(mailto[len(prefix) :])
    assert read_token(KEYS, "unsubscribe-stream", token) == {"s": 42, "f": "weekly", "k": LINK}


@pytest.mark.parametrize(
    "purpose", ["unsubscribe-stream", "unsubscribe-subscription", "unsubscribe-all", "preferences"]
)
def test_every_untimed_token_matches_itsdangerous(purpose: str) -> None:
    reference = URLSafeSerializer(
        [OLD_KEY, NEW_KEY], salt=purpose, signer_kwargs={"digest_method": hashlib.sha256}
    )
    assert make_token(KEYS, purpose, PAYLOADS[purpose]) == reference.dumps(PAYLOADS[purpose])


@pytest.mark.parametrize(
    "purpose", ["unsubscribe-stream", "unsubscribe-subscription", "unsubscribe-all", "preferences"]
)
@pytest.mark.parametrize("keys", [(NEW_KEY,), KEYS, ("newest-key-0123456789abcdef", *KEYS)])
@pytest.mark.parametrize(
    "link_key",
    [LINK, "a" * 64, "clé-ñ-リンク", "x"],  # a long repeated key compresses: a "." token
)
def test_tokens_match_itsdangerous_whatever_the_payload_and_keys(
    purpose: str, keys: tuple[str, ...], link_key: str
) -> None:
    reference = URLSafeSerializer(
        list(reversed(keys)), salt=purpose, signer_kwargs={"digest_method": hashlib.sha256}
    )
    for subscriber in (0, 7, 2**40):
        payload = {**PAYLOADS[purpose], "s": subscriber, "k": link_key}
        token = make_token(keys, purpose, payload)
        assert token == reference.dumps(payload)
        assert read_token(keys, purpose, token) == payload
    assert make_token(keys, purpose, {**PAYLOADS[purpose], "k": "a" * 64}).startswith(".")


# Made by the code that signed the emails already sent, for fixed keys and
# inputs: however minting is done, the same inputs must give the same text.
MINTED = {
    "preferences": (
        "https://alerts.example.org/preferences/"
        "eyJzIjo0MiwiayI6IlpxM3Y5eF9saW5rLWtleS0wMTIzNDU2In0."
        "T2U_9UyWTEPMQPEx1i79A2UF0IrRv0C7tnxmzD4PLec"
    ),
    "unsubscribe-all": (
        "https://alerts.example.org/u/all/"
        "eyJzIjo0MiwiayI6IlpxM3Y5eF9saW5rLWtleS0wMTIzNDU2In0."
        "tKY7vIdR28hHTeDlh3CfLI2aEg-1KkUOagUmLL4MCuA"
    ),
    "unsubscribe-stream": (
        "https://alerts.example.org/u/"
        "eyJzIjo0MiwiZiI6ImRhaWx5IiwiayI6IlpxM3Y5eF9saW5rLWtleS0wMTIzNDU2In0."
        "r8vXx858ilnm4P2GjuX2HRIxRHtrgOGlKVv9BFCvEV4"
    ),
    "unsubscribe-mailto": (
        "mailto:unsubscribe@mail.example.org?subject=unsubscribe%20"
        "eyJzIjo0MiwiZiI6IndlZWtseSIsImsiOiJacTN2OXhfbGluay1rZXktMDEyMzQ1NiJ9."
        "kZ25aNxvRYW64Hp09SDcI33Jlqb-3MrvLYmIw0cdaO8"
    ),
    "unsubscribe-subscription": (
        "https://alerts.example.org/u/s/"
        "eyJzIjo0Miwic3ViIjo3LCJrIjoiWnEzdjl4X2xpbmsta2V5LTAxMjM0NTYifQ."
        "0gGHmBbePvQby99kH3Kjg0uStIru5xyti-R_lx1-o90"
    ),
    "confirm": (
        "https://alerts.example.org/confirm/"
        "eyJwIjoxMDAxLCJrIjoiWnEzdjl4X2xpbmsta2V5LTAxMjM0NTYifQ.aj-REA."
        "QBqCf76xsQ4VRU42sqMBstkYZjde-VKkmsqf0OYebro"
    ),
    "compressed": (
        ".eJyrVipWsjI0sLQ0NTQ0MzI3NzfTUcpWslJKpBAo1QIA61IeMA."
        "U_2Du4NVSibGXPlUmrCWOcBVFh421Bj_4cKPj2nGWUg"
    ),
    "non-ascii": (
        "eyJzIjowLCJzdWIiOjMsImsiOiJjbMOpLcOxLeODquODs-OCryJ9."
        "ipJXJxJ90ojCF3LF7SCRX3LA3Le-cG9JUQ_03U5hUyc"
    ),
    "one-key": (
        "eyJzIjo1LCJmIjoibW9udGhseSIsImsiOiJacTN2OXhfbGluay1rZXktMDEyMzQ1NiJ9."
        "cymMRuqG-nNrao1HfaI-UIAbKVoR95LZ6ioli5z9gDE"
    ),
}


def test_the_same_inputs_and_keys_mint_the_same_links_as_before() -> None:
    assert {
        "preferences": preferences_url(SETTINGS, 42, link_key=LINK),
        "unsubscribe-all": unsubscribe_all_url(SETTINGS, 42, link_key=LINK),
        "unsubscribe-stream": unsubscribe_url(SETTINGS, 42, "daily", link_key=LINK),
        "unsubscribe-mailto": unsubscribe_mailto(SETTINGS, 42, "weekly", link_key=LINK),
        "unsubscribe-subscription": unsubscribe_subscription_url(SETTINGS, 42, 7, link_key=LINK),
        "confirm": confirm_url(SETTINGS, 1001, link_key=LINK, now=NOW),
        "compressed": make_token(KEYS, "preferences", {"s": 2**40, "k": "a" * 64}),
        "non-ascii": make_token(
            KEYS, "unsubscribe-subscription", {"s": 0, "sub": 3, "k": "clé-ñ-リンク"}
        ),
        "one-key": make_token(
            (NEW_KEY,), "unsubscribe-stream", {"s": 5, "f": "monthly", "k": LINK}
        ),
    } == MINTED
    assert account_links(SETTINGS, 42, link_key=LINK) == (
        MINTED["preferences"],
        MINTED["unsubscribe-all"],
    )


@pytest.mark.parametrize("link_key", [LINK, "a" * 64, "clé-ñ-リンク"])
def test_account_links_are_the_preferences_and_unsubscribe_all_urls(link_key: str) -> None:
    for subscriber in (0, 42, 2**40):
        assert account_links(SETTINGS, subscriber, link_key=link_key) == (
            preferences_url(SETTINGS, subscriber, link_key=link_key),
            unsubscribe_all_url(SETTINGS, subscriber, link_key=link_key),
        )
    with pytest.raises(ValueError):
        account_links(SETTINGS, 42, link_key="")


@settings(max_examples=300)
@given(
    subscriber=st.integers(min_value=0, max_value=2**63),
    subscription=st.integers(min_value=0, max_value=2**63),
    link_key=st.text(min_size=1, max_size=200)
    | st.builds(
        lambda part, times: part * times, st.text(min_size=1, max_size=4), st.integers(1, 40)
    ),
)
def test_a_token_is_what_itsdangerous_dumps_on_either_side_of_compression(
    subscriber: int, subscription: int, link_key: str
) -> None:
    payload = {"s": subscriber, "sub": subscription, "k": link_key}
    reference = URLSafeSerializer(
        [OLD_KEY, NEW_KEY],
        salt="unsubscribe-subscription",
        signer_kwargs={"digest_method": hashlib.sha256},
    )
    assert make_token(KEYS, "unsubscribe-subscription", payload) == reference.dumps(payload)
