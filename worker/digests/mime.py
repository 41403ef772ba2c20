"""Raw MIME bytes of a multipart/alternative email, built directly.

The standard library's EmailMessage manages about 600 messages a second; a
digest run needs several thousand, so the bytes are assembled here with C
encoders: `binascii` for headers, `pybase64` (SIMD: a tenth of `binascii`'s
time on a digest's bodies, the same bytes) for bodies.  Bodies are base64
(lines of 76 characters, CRLF), which is safe for any text and any line
length.  Every header value passes through `_clean`, so a CR or LF in data
can never start a new header.
"""

from __future__ import annotations

import binascii
import re
import secrets
import struct
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

import pybase64

from worker.core.config import Settings
from worker.core.tokens import mail_domain
from worker.digests.digest import Digest
from worker.digests.render import confirm_context, digest_context, render_email

STREAM_NAMES = {
    "instant": "instant alerts",
    "daily": "daily digest",
    "weekly": "weekly digest",
    "monthly": "monthly digest",
}
SOFT_LINE = 78  # RFC 5322: lines SHOULD be at most 78 characters
HARD_LINE = 998  # ... and MUST be at most 998
BASE64_LINE = 76  # RFC 2045
_BLOCK_LINES = 128  # lines cut from the encoded bytes by one struct at a time
_WORD_BYTES = 42  # UTF-8 bytes per encoded word: 56 base64 characters, 68 with framing

# Control characters (C0, DEL, and the Unicode line breaks) turn into spaces.
_CONTROLS = {code: " " for code in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]}
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ":" (RFC 5322 ftext)
_BARE_ADDRESS = re.compile(r"[^\s<>\"(),;:\\\[\]@]+@[^\s<>\"(),;:\\\[\]@]+")
_NAMED_ADDRESS = re.compile(r"([^<>]*)<([^<>]+)>")
_ADDRESS_SPECIALS = re.compile(r'[ <>"(),;:\\\[\]]')  # never in an address we accept
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_OWN_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)


def _clean(value: str) -> str:
    """One line, single spaces: no control character survives into a header."""
    if not value.isprintable():  # every one of _CONTROLS is unprintable: skip the slow translate
        value = value.translate(_CONTROLS)
    return " ".join(value.split())


def _encoded_words(value: str) -> list[str]:
    """RFC 2047 base64 words, split on character boundaries."""
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append(_encoded_word(bytes(chunk)))
    return words


def _encoded_word(raw: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(raw, newline=False).decode("ascii") + "?="


def _fold(name: str, words: list[str]) -> str | None:
    """`Name: w1 w2 …` folded before a word when a line would pass 78; None if one is too long."""
    lines: list[str] = []
    line = name + ":"
    for word in words:
        if len(line) + 1 + len(word) > SOFT_LINE and line != name + ":":
            lines.append(line)
            line = ""
        line += " " + word
        if len(line) > HARD_LINE:
            return None
    lines.append(line)
    return "\r\n".join(lines)


@lru_cache(maxsize=1024)  # subjects are built from counts: few distinct values per run
def unstructured_header(name: str, value: str) -> str:
    """A free-text header (Subject, extras): folded ASCII, or RFC 2047 words when needed."""
    value = _clean(value)
    if value.isascii():
        folded = _fold(name, value.split(" "))
        if folded is not None:
            return folded
    folded = _fold(name, _encoded_words(value))
    assert folded is not None  # encoded words are at most 72 characters
    return folded


def _phrase(name: str) -> str:
    """A display name as an atom phrase, a quoted string, or encoded words."""
    if not name.isascii():
        return " ".join(_encoded_words(name))
    if _ATOM_PHRASE.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addr_spec(address: str) -> str:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or _ADDRESS_SPECIALS.search(address):
        raise ValueError(f"not an email address: {address!r}")
    if not local.isascii():
        raise ValueError(f"non-ASCII local part needs SMTPUTF8: {address!r}")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def _split_address(value: str) -> tuple[str, str]:
    """(display name, address) of `addr@host` or `Name <addr@host>`; anything else is refused."""
    if _BARE_ADDRESS.fullmatch(value):
        return "", value
    named = _NAMED_ADDRESS.fullmatch(value)
    if not named:
        raise ValueError(f"not an email address: {value!r}")
    display = named.group(1).strip()
    if len(display) >= 2 and display[0] == display[-1] == '"':
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    return display, named.group(2).strip()


@lru_cache(maxsize=256)
def address_header(name: str, value: str) -> str:
    """`From`/`To` with an encoded display name; the address itself is checked, not encoded."""
    display, address = _split_address(_clean(value))
    spec = _addr_spec(address)
    if not display:
        return f"{name}: {spec}"
    folded = _fold(name, [*_phrase(display).split(" "), f"<{spec}>"])
    if folded is None:
        raise ValueError(f"{name} header too long: {value!r}")
    return folded


def _structured_header(name: str, value: str) -> str:
    """Headers such as List-Unsubscribe: folded at spaces, never re-encoded."""
    folded = _fold(name, _clean(value).split(" "))
    if folded is None:
        raise ValueError(f"{name} header has a part longer than {HARD_LINE} characters")
    return folded


@lru_cache(maxsize=64)  # every message of a run passes the same few names
def _extra_header_writer(name: str) -> Callable[[str, str], str]:
    """How `build_message` writes an extra header; a name it may not take raises ValueError."""
    if not _HEADER_NAME.fullmatch(name) or name.lower() in _OWN_HEADERS:
        raise ValueError(f"header name not allowed: {name!r}")
    if name.lower().startswith("list-") or name.lower() in ("references", "in-reply-to"):
        return _structured_header
    return unstructured_header


def _date_header(date: datetime) -> str:
    # Equal instants in other zones hash alike: the offset is part of the key.
    return _date_line(date, date.utcoffset())


@lru_cache(maxsize=16)  # a run dates all its digests with the same `now`
def _date_line(date: datetime, offset: timedelta | None) -> str:
    return f"Date: {format_datetime(date)}"


def _message_id(value: str) -> str:
    value = _clean(value).replace(" ", "")
    if not value.startswith("<"):
        value = f"<{value}>"
    if "@" not in value or value.count("<") != 1 or value.count(">") != 1 or value[-1] != ">":
        raise ValueError(f"not a Message-ID: {value!r}")
    return value


@lru_cache(maxsize=_BLOCK_LINES + 1)
def _lines_struct(count: int) -> struct.Struct:
    """Cuts `count` base64 lines: whole blocks of _BLOCK_LINES, then the lines left."""
    return struct.Struct(f"{BASE64_LINE}s" * count)


_BLOCK = _lines_struct(_BLOCK_LINES)


def _base64_lines(raw: bytes) -> bytes:
    """base64 in 76-character CRLF lines, cut by struct in C rather than sliced in a loop.

    Whole blocks of lines, then the remaining whole lines with one struct of
    their count, each unpacked straight from the encoded bytes: a tuple per
    block and no list to gather them into.
    """
    encoded = pybase64.b64encode(raw)
    count, rest = divmod(len(encoded), BASE64_LINE)
    blocks, left = divmod(count, _BLOCK_LINES)
    lines: tuple[bytes, ...] = ()
    for block in range(blocks):
        lines += _BLOCK.unpack_from(encoded, block * _BLOCK.size)
    lines += _lines_struct(left).unpack_from(encoded, blocks * _BLOCK.size)
    if rest:
        lines += (encoded[count * BASE64_LINE :],)
    return b"\r\n".join(lines)


def _base64_body(text: str) -> bytes:
    """UTF-8 with CRLF line ends (the canonical form of text), base64-encoded."""
    raw = text.encode("utf-8")
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return _base64_lines(raw.replace(b"\n", b"\r\n"))


def build_message(
    *,
    from_addr: str,
    to_addr: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    headers: Mapping[str, str],
) -> bytes:
    """multipart/alternative (text/plain, then text/html) as CRLF bytes ready for SES.

    `headers` adds List-Id, List-Unsubscribe and the like; it cannot replace
    the headers this function writes itself.
    """
    if date.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    lines = [
        address_header("From", from_addr),
        address_header("To", to_addr),
        unstructured_header("Subject", subject),
        _date_header(date),
        f"Message-ID: {_message_id(message_id)}",
        "MIME-Version: 1.0",
    ]
    for name, value in headers.items():
        lines.append(_extra_header_writer(name)(name, value))
    boundary = "=_" + secrets.token_hex(16)  # "=_" never occurs in base64
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
    head = "\r\n".join(lines).encode("ascii")
    part = (
        f"--{boundary}\r\n"
        'Content-Type: text/{}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return b"".join(
        (
            head,
            b"\r\n\r\n",
            part.format("plain").encode("ascii"),
            _base64_body(text),
            b"\r\n",
            part.format("html").encode("ascii"),
            _base64_body(html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )


def list_unsubscribe_headers(url: str, mailto: str) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369: the https link, then mailto:) and RFC 8058 one-click."""
    return {
        "List-Unsubscribe": f"<{url}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def digest_message(
    settings: Settings,
    subscriber: Mapping[str, Any],
    digest: Digest,
    now: datetime,
    message_id: str,
) -> bytes:
    """The digest email of one subscriber, with List-Id and one-click List-Unsubscribe.

    `subscriber`: the row's `id`, `email` and `link_key` (see `digest_context`).
    """
    context = digest_context(settings, subscriber, digest, now)
    rendered = render_email("digest", context)
    stream = STREAM_NAMES.get(digest.frequency, digest.frequency)
    headers = {
        "List-Id": f"Trialalerts {stream} <{digest.frequency}.digests.{mail_domain(settings)}>",
        **list_unsubscribe_headers(context["unsubscribe_url"], context["unsubscribe_mailto"]),
    }
    return build_message(
        from_addr=settings.mail_from,
        to_addr=subscriber["email"],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        headers=headers,
    )


def confirm_message(
    settings: Settings,
    *,
    to_addr: str,
    signup_id: int,
    link_key: str,
    target: str,
    now: datetime,
    message_id: str,
) -> bytes:
    """The double opt-in email of a public sign-up (no list headers: nobody is subscribed yet)."""
    rendered = render_email(
        "confirm-subscription",
        confirm_context(settings, signup_id=signup_id, link_key=link_key, target=target, now=now),
    )
    return build_message(
        from_addr=settings.mail_from,
        to_addr=to_addr,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        headers={},
    )
