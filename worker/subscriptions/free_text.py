"""Free text a subscription carries and emails repeat: what a condition may say.

The public sign-up form mails its condition to whatever address was typed,
so without a rule anyone could have us deliver their words ("asthma. ACTION
REQUIRED: verify at evil.example/login") to anyone. A condition is a disease
name: short, visible, and nothing in it works as a link, an address or a
number to call. Admin imports follow the same rule, so a list exported from
one place can be signed up or imported in the other, and digests that name
a subscription only ever show disease names.

Pure functions; `worker.subscriptions.rows` applies them to every row.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CONDITION_LENGTH = 100

# "." and what browsers and IDNA read as a dot between the labels of a domain.
_DOT = "[.\u2024\u3002\uff0e\uff61\ufe52]"
_LETTER = r"[^\W\d_]"
_NAME_ONLY = "a condition is the name of a disease"
_REFUSED = (
    (re.compile("[@\uff20\ufe6b]"), f"looks like an email address; {_NAME_ONLY}"),
    (re.compile(r"[a-z][a-z0-9+.\-]*:/", re.IGNORECASE), f"looks like a web address; {_NAME_ONLY}"),
    (
        re.compile(rf"(?<={_LETTER}){_DOT}+(?=\w)|(?<=\w){_DOT}+(?={_LETTER})"),
        f"looks like a web address; {_NAME_ONLY} (after a dot, leave a space: 'H. pylori')",
    ),
    (re.compile(rf"\d+{_DOT}\d+{_DOT}\d+"), f"looks like a web address; {_NAME_ONLY}"),
    (re.compile(r"\d(?:[\s().\-/+]*\d){5,}"), f"looks like a phone number; {_NAME_ONLY}"),
)


def has_invisible(text: str) -> bool:
    """Control, format (bidi overrides, zero-width), surrogate, private or unassigned characters."""
    return any(unicodedata.category(char).startswith("C") for char in text)


def _plain(text: str) -> str:
    """`text` as a browser or mail client may read it: compatibility forms folded, no accents.

    Fullwidth letters, "⒈" ("1."), circled and superscript digits become the
    plain characters; combining marks go, so an accent written as its own
    character ("e" + U+0301) does not hide the letter before a dot.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFKC", bare)


def disease_name(text: str) -> str:
    """`text` with its spaces collapsed, when it can be a disease name; ValueError says why not."""
    value = " ".join(text.split())
    if has_invisible(value):
        raise ValueError("contains invisible or control characters")
    if len(value) > MAX_CONDITION_LENGTH:
        raise ValueError(f"longer than {MAX_CONDITION_LENGTH} characters")
    plain = _plain(value)
    for pattern, reason in _REFUSED:
        if pattern.search(value) or pattern.search(plain):
            raise ValueError(reason)
    return value
