"""Anti-forgery form tokens: bound to one form on one page, valid across a key rotation."""

from __future__ import annotations

import pytest

from worker.core.tokens import make_token
from worker.web.security import form_token, form_token_ok

NEW_KEY = "new-key-0123456789abcdef"
OLD_KEY = "old-key-0123456789abcdef"
KEYS = (NEW_KEY, OLD_KEY)  # newest first
PAGE = make_token(KEYS, "preferences", {"s": 42, "k": "ada-link-key-000000000"})
OTHER_PAGE = make_token(KEYS, "preferences", {"s": 43, "k": "bob-link-key-000000000"})


def test_a_form_token_is_accepted_for_its_form_on_its_page() -> None:
    assert form_token_ok(KEYS, "preferences", PAGE, form_token(KEYS, "preferences", PAGE))


def test_a_form_token_is_refused_on_another_page_or_for_another_form() -> None:
    token = form_token(KEYS, "preferences", PAGE)
    assert not form_token_ok(KEYS, "preferences", OTHER_PAGE, token)
    assert not form_token_ok(KEYS, "signup", PAGE, token)


@pytest.mark.parametrize("given", [None, "", "0" * 43, "not a token", "💥"])
def test_missing_or_forged_form_tokens_are_refused(given: str | None) -> None:
    assert not form_token_ok(KEYS, "preferences", PAGE, given)


def test_an_altered_form_token_is_refused() -> None:
    token = form_token(KEYS, "preferences", PAGE)
    for position in (0, 10, 30):
        altered = (
            token[:position] + ("B" if token[position] == "A" else "A") + token[position + 1 :]
        )
        assert not form_token_ok(KEYS, "preferences", PAGE, altered)


def test_a_form_token_of_a_page_opened_before_a_key_rotation_still_passes() -> None:
    before = form_token((OLD_KEY,), "preferences", PAGE)
    assert form_token_ok(KEYS, "preferences", PAGE, before)
    assert not form_token_ok((NEW_KEY,), "preferences", PAGE, before)


def test_a_form_token_is_signed_with_the_newest_key() -> None:
    token = form_token(KEYS, "preferences", PAGE)
    assert form_token_ok((NEW_KEY,), "preferences", PAGE, token)
    assert not form_token_ok((OLD_KEY,), "preferences", PAGE, token)


def test_a_link_token_signature_is_no_form_token() -> None:
    """Another salt: the signature part of the page's own token does not pass."""
    assert not form_token_ok(KEYS, "preferences", PAGE, PAGE.rsplit(".", 1)[1])
