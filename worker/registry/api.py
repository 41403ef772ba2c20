"""The API v2 subset the poller relies on (DESIGN.md): the queries it sends, the answers it takes.

Pure: a query is a dict of parameters, an answer is bytes in and a `Page` or
`Version` out, or a `BadPage` naming what was wrong (an HTML error page
behind a 200, a body cut short).  Studies are not checked here: each one
goes through the normal publish path, where a bad one becomes a dead letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

MAX_PAGE_SIZE = 1000
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z?$")


class BadPage(ValueError):
    """An answer that is not the JSON the subset promises; `body` is kept as it came."""

    def __init__(self, reason: str, body: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body


@dataclass(frozen=True)
class Page:
    studies: list[Any]
    next_token: str | None


@dataclass(frozen=True)
class Version:
    api_version: str
    data_timestamp: str


def updated_since(day: date, page_size: int) -> dict[str, str]:
    """Studies whose LastUpdatePostDate is `day` or later, oldest first."""
    return {
        "format": "json",
        "pageSize": str(min(page_size, MAX_PAGE_SIZE)),
        "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{day.isoformat()},MAX]",
        "sort": "LastUpdatePostDate:asc",
    }


def by_ids(nct_ids: list[str]) -> dict[str, str]:
    """The studies with these NCT ids, all on one page."""
    return {"format": "json", "filter.ids": ",".join(nct_ids), "pageSize": str(len(nct_ids))}


def _json_object(body: bytes, content_type: str) -> dict[str, Any]:
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        raise BadPage(f"an HTML page ({content_type or 'no content type'}), not JSON", body)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadPage(f"not valid JSON ({error}; {len(body)} bytes)", body) from None
    if not isinstance(value, dict):
        raise BadPage(f"a JSON {type(value).__name__}, not an object", body)
    return value


def parse_page(body: bytes, content_type: str = "application/json") -> Page:
    value = _json_object(body, content_type)
    studies = value.get("studies")
    if not isinstance(studies, list):
        raise BadPage("no `studies` list", body)
    token = value.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise BadPage(f"`nextPageToken` is a {type(token).__name__}, not a string", body)
    return Page(studies, token or None)


def parse_version(body: bytes, content_type: str = "application/json") -> Version:
    value = _json_object(body, content_type)
    stamp = value.get("dataTimestamp")
    if not isinstance(stamp, str) or not _TIMESTAMP.match(stamp):
        raise BadPage(f"`dataTimestamp` {str(stamp)[:40]!r} is not a timestamp", body)
    api_version = value.get("apiVersion")
    return Version(api_version if isinstance(api_version, str) else "", stamp)
