"""Raw MIME bytes: what a standard parser reads back, and what data can never do to headers."""

from __future__ import annotations

import base64
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from urllib.parse import unquote

import pytest

from worker.core.cadence import FREQUENCIES
from worker.core.config import Settings
from worker.core.tokens import read_token
from worker.digests.digest import Digest, DigestItem, Section, subject_line
from worker.digests.mime import (
    _base64_lines,
    build_message,
    confirm_message,
    digest_message,
    list_unsubscribe_headers,
)

KEYS = ("new-key-0123456789abcdef", "old-key-0123456789abcdef")
SETTINGS = Settings(
    secret_keys=KEYS,
    base_url="https://alerts.example.org",
    mail_from="Trialalerts <alerts@mail.example.org>",
    postal_address="Trialalerts, 1 Example Street, 00000 Example City",
)
NOW = datetime(2026, 6, 27, 8, 0, tzinfo=UTC)
ADA = {"id": 42, "email": "ada@example.com", "link_key": "ada-link-key-000000000"}
TEXT = "Hello,\n\nHere is your daily digest.\nSecond line ünïcödé → ✓\n"
HTML = '<!DOCTYPE html><html lang="en"><body><p>Hello → <a href="https://x.example">✓</a></p></body></html>\n'


def _build(**overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "from_addr": "Trialalerts <alerts@mail.example.org>",
        "to_addr": "ada@example.com",
        "subject": "3 new studies for your clinical trial alerts",
        "text": TEXT,
        "html": HTML,
        "message_id": "<digest-17@mail.example.org>",
        "date": NOW,
        "headers": {},
    }
    arguments.update(overrides)
    return build_message(**arguments)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def _header_names(raw: bytes) -> list[str]:
    return [
        line.split(b":", 1)[0].decode()
        for line in _header_block(raw).split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    ]


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    return text_part.get_content(), html_part.get_content()


def _crlf_to_lf(value: str) -> str:
    return value.replace("\r\n", "\n")


def _digest(
    title: str = "Testing Immunotherapy With Chemotherapy for Non-small Cell Lung Cancer",
) -> Digest:
    item = DigestItem(
        nct_id="NCT04267848",
        title=title,
        status="Recruiting",
        url="https://clinicaltrials.gov/study/NCT04267848",
        is_new=True,
        changes=(),
        matched_by=("lung cancer",),
    )
    section = Section("condition", "New studies for lung cancer", (3,), (item,), 0, None)
    return Digest("daily", (section,), 1, 1, (11,), new_count=1)


def test_a_standard_parser_reads_the_headers_back() -> None:
    message = _parse(
        _build(headers={"List-Id": "Trialalerts daily digest <daily.digests.mail.example.org>"})
    )
    assert message["From"] == "Trialalerts <alerts@mail.example.org>"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "3 new studies for your clinical trial alerts"
    assert message["Message-ID"] == "<digest-17@mail.example.org>"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"].datetime == NOW
    assert message["List-Id"] == "Trialalerts daily digest <daily.digests.mail.example.org>"
    assert not message.defects


def test_the_body_is_multipart_alternative_text_first_then_html() -> None:
    message = _parse(_build())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert all(not part.defects for part in parts)


def test_both_parts_decode_to_the_original_text_and_html() -> None:
    text, html = _bodies(_parse(_build()))
    assert _crlf_to_lf(text) == TEXT
    assert _crlf_to_lf(html) == HTML


def test_line_endings_are_crlf_and_lines_are_short() -> None:
    long_line = "word " * 2000  # one 10,000-character line of text
    raw = _build(text=long_line, html=f"<p>{long_line}</p>")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    assert max(len(line) for line in lines[len(_header_block(raw).split(b"\r\n")) :]) <= 76
    text, _ = _bodies(_parse(raw))
    assert text == long_line


@pytest.mark.parametrize("length", [0, 1, 56, 57, 58, 7295, 7296, 7297, 20_000])
def test_bodies_of_any_length_decode_exactly(length: int) -> None:
    """Lengths around one base64 line (57 bytes) and one block of 128 lines (7,296 bytes)."""
    text = ("abcdefghi\n" * 2000)[:length]
    raw = _build(text=text, html=text)
    assert all(len(line) <= 76 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    decoded_text, decoded_html = _bodies(_parse(raw))
    assert _crlf_to_lf(decoded_text) == text
    assert _crlf_to_lf(decoded_html) == text


def _standard_base64_lines(raw: bytes) -> bytes:
    """The standard library's MIME base64: 76-character lines, here ended by CRLF."""
    return base64.encodebytes(raw).replace(b"\n", b"\r\n").removesuffix(b"\r\n")


_RANDOM = random.Random(7)


@pytest.mark.parametrize(
    "length",
    [0, 1, 2, 3, 4, 5, 6, 55, 56, 57, 58, 59, 75, 76, 77, 113, 114, 115, 7295, 7296, 7297]
    + [7296 * 2 + 57, 28_000, 100_003],
)
def test_body_base64_is_the_standard_librarys_byte_for_byte(length: int) -> None:
    """Around 1-3 bytes (padding), 57 bytes (one line), 76, 128 lines (7,296 bytes), large."""
    for raw in (
        _RANDOM.randbytes(length),
        bytes([0xFF]) * length,
        bytes(length),
        ("é→✓ digest\n" * length).encode()[:length],
    ):
        assert _base64_lines(raw) == _standard_base64_lines(raw)


def test_every_byte_is_ascii() -> None:
    raw = _build(subject="Ελληνικά 中文 العربية", to_addr="Zoë Ärzte <zoe@example.com>")
    assert raw.isascii()


def test_bare_newlines_and_old_mac_newlines_become_crlf_in_the_decoded_text() -> None:
    text, _ = _bodies(_parse(_build(text="a\nb\rc\r\nd")))
    assert text.splitlines() == ["a", "b", "c", "d"]


def test_a_non_ascii_subject_is_encoded_and_decodes_back() -> None:
    subject = "Νέες μελέτες · 新研究 · دراسات جديدة · " + "ü" * 120
    raw = _build(subject=subject)
    assert b"=?utf-8?b?" in _header_block(raw)
    assert _parse(raw)["Subject"] == subject


def test_a_long_ascii_subject_is_folded_and_unfolds_to_the_original() -> None:
    subject = " ".join(["alerts"] * 60)
    raw = _build(subject=subject)
    subject_lines = [
        line for line in _header_block(raw).split(b"\r\n") if line.startswith((b"Subject", b" "))
    ]
    assert len(subject_lines) > 1
    assert all(len(line) <= 78 for line in subject_lines)
    assert _parse(raw)["Subject"] == subject


def test_a_subject_word_longer_than_a_header_line_is_encoded_not_cut() -> None:
    subject = "x" * 3000
    raw = _build(subject=subject)
    assert max(len(line) for line in _header_block(raw).split(b"\r\n")) <= 78
    assert _parse(raw)["Subject"] == subject


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\x00", "\u2028", "\x85", "\t"])
def test_line_breaks_in_a_subject_cannot_add_a_header(breaker: str) -> None:
    raw = _build(subject=f"Alerts{breaker}Bcc: victim@example.com{breaker}{breaker}<b>body</b>")
    message = _parse(raw)
    assert message["Bcc"] is None
    assert message["Subject"] == "Alerts Bcc: victim@example.com <b>body</b>"
    assert _header_names(raw).count("Subject") == 1


def test_line_breaks_in_an_extra_header_value_cannot_add_a_header() -> None:
    raw = _build(headers={"X-Campaign": "digest\r\nBcc: victim@example.com"})
    message = _parse(raw)
    assert message["Bcc"] is None
    assert message["X-Campaign"] == "digest Bcc: victim@example.com"


def test_line_breaks_in_the_recipient_cannot_add_a_header() -> None:
    with pytest.raises(ValueError):
        _build(to_addr="ada@example.com\r\nBcc: victim@example.com")


def test_a_non_ascii_display_name_is_encoded() -> None:
    raw = _build(from_addr="Ζωή Trialalerts <alerts@mail.example.org>")
    assert b"=?utf-8?b?" in _header_block(raw)
    message = _parse(raw)
    assert message["From"].addresses[0].display_name == "Ζωή Trialalerts"
    assert message["From"].addresses[0].addr_spec == "alerts@mail.example.org"


def test_a_display_name_with_specials_is_quoted() -> None:
    message = _parse(_build(from_addr='"Alerts, Inc. \\"Trials\\"" <alerts@mail.example.org>'))
    assert message["From"].addresses[0].display_name == 'Alerts, Inc. "Trials"'


def test_an_internationalized_domain_is_punycoded() -> None:
    message = _parse(_build(to_addr="ada@bücher.example"))
    assert message["To"] == "ada@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "address", ["not an address", "ada@", "@example.com", "ådå@example.com", ""]
)
def test_an_invalid_recipient_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        _build(to_addr=address)


@pytest.mark.parametrize(
    "name", ["From", "subject", "Content-Type", "Bad Name", "X-Colon:", "", "Ünï"]
)
def test_extra_headers_cannot_replace_or_break_the_message_headers(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        _build(headers={name: "x"})


def test_a_message_id_gets_angle_brackets_when_missing() -> None:
    assert (
        _parse(_build(message_id="digest-9@mail.example.org"))["Message-ID"]
        == "<digest-9@mail.example.org>"
    )
    with pytest.raises(ValueError):
        _build(message_id="no-domain")


def test_the_date_keeps_its_offset_and_must_be_aware() -> None:
    paris = timezone(timedelta(hours=2))
    message = _parse(_build(date=datetime(2026, 6, 27, 10, 0, tzinfo=paris)))
    assert message["Date"] == "Sat, 27 Jun 2026 10:00:00 +0200"
    with pytest.raises(ValueError, match="timezone-aware"):
        _build(date=datetime(2026, 6, 27, 10, 0))


def test_the_boundary_never_appears_in_the_encoded_bodies() -> None:
    raw = _build(text="=_" * 500, html="--=_" * 500)
    boundary = _parse(raw).get_boundary()
    assert boundary is not None
    assert raw.count(f"--{boundary}".encode()) == 3  # two parts and the closing delimiter


def test_a_digest_message_carries_list_headers_with_a_working_one_click_token() -> None:
    message = _parse(
        digest_message(
            SETTINGS,
            ADA,
            _digest(),
            NOW,
            "<digest-5@mail.example.org>",
        )
    )
    assert message["To"] == "ada@example.com"
    assert message["From"] == SETTINGS.mail_from
    assert message["Subject"] == subject_line(_digest())
    assert message["Message-ID"] == "<digest-5@mail.example.org>"
    assert message["List-Id"] == "Trialalerts daily digest <daily.digests.mail.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.fullmatch(
        r"<(https://[^>]+)>, <(mailto:[^>]+)>", str(message["List-Unsubscribe"])
    ).groups()  # type: ignore[union-attr]
    assert https.startswith("https://alerts.example.org/u/")
    token = https.rsplit("/", 1)[1]
    assert read_token(KEYS, "unsubscribe-stream", token) == {
        "s": 42,
        "f": "daily",
        "k": ADA["link_key"],
    }
    assert unquote(mailto) == f"mailto:unsubscribe@mail.example.org?subject=unsubscribe {token}"


def test_the_list_unsubscribe_headers_offer_https_then_mailto_and_one_click() -> None:
    headers = list_unsubscribe_headers("https://a.example/u/T", "mailto:u@a.example?subject=T")
    assert headers == {
        "List-Unsubscribe": "<https://a.example/u/T>, <mailto:u@a.example?subject=T>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@pytest.mark.parametrize("frequency", FREQUENCIES)
def test_each_digest_stream_has_its_own_list_id(frequency: str) -> None:
    digest = Digest(frequency, _digest().sections, 1, 1, (11,), new_count=1)
    message = _parse(digest_message(SETTINGS, ADA, digest, NOW, "<d@x.example>"))
    assert f"<{frequency}.digests.mail.example.org>" in message["List-Id"]
    token = message["List-Unsubscribe"].split("/u/", 1)[1].split(">", 1)[0]
    assert read_token(KEYS, "unsubscribe-stream", token) == {
        "s": 42,
        "f": frequency,
        "k": ADA["link_key"],
    }


def test_a_digest_message_bodies_are_the_rendered_digest() -> None:
    message = _parse(digest_message(SETTINGS, ADA, _digest(), NOW, "<d@x.example>"))
    text, html = _bodies(message)
    for body in (text, html):
        assert "Testing Immunotherapy With Chemotherapy for Non-small Cell Lung Cancer" in body
        assert "https://clinicaltrials.gov/study/NCT04267848" in body
        assert SETTINGS.postal_address in body


def test_a_confirmation_message_has_no_list_headers_and_a_working_confirm_link() -> None:
    raw = confirm_message(
        SETTINGS,
        to_addr="ada@example.com",
        signup_id=77,
        link_key="signup-link-key-000000",
        target="head and neck cancer",
        now=NOW,
        message_id="<confirm-77@mail.example.org>",
    )
    message = _parse(raw)
    assert message["Subject"] == "Confirm your clinical trial alerts"
    assert message["List-Unsubscribe"] is None
    text, _ = _bodies(message)
    token = re.search(r"https://alerts\.example\.org/confirm/(\S+)", text).group(1)  # type: ignore[union-attr]
    assert read_token(KEYS, "confirm", token, now=NOW + timedelta(days=1)) == {
        "p": 77,
        "k": "signup-link-key-000000",
    }


def test_a_confirmation_subject_never_carries_the_form_text() -> None:
    raw = confirm_message(
        SETTINGS,
        to_addr="ada@example.com",
        signup_id=77,
        link_key="signup-link-key-000000",
        target="cancer\r\nBcc: victim@example.com",
        now=NOW,
        message_id="<c@x.example>",
    )
    message = _parse(raw)
    assert message["Bcc"] is None
    assert message["Subject"] == "Confirm your clinical trial alerts"
