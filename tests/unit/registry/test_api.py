"""The API v2 subset: queries as DESIGN.md writes them, answers read strictly."""

from __future__ import annotations

from datetime import date

import pytest

from worker.registry.api import BadPage, by_ids, parse_page, parse_version, updated_since


def test_the_incremental_query_is_the_documented_one() -> None:
    assert updated_since(date(2026, 6, 27), 5000) == {
        "format": "json",
        "pageSize": "1000",
        "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-06-27,MAX]",
        "sort": "LastUpdatePostDate:asc",
    }
    assert by_ids(["NCT00000001", "NCT00000002"]) == {
        "format": "json", "filter.ids": "NCT00000001,NCT00000002", "pageSize": "2",
    }  # fmt: skip


def test_a_page_gives_its_studies_and_token_and_the_last_page_has_none() -> None:
    page = parse_page(b'{"studies": [{"a": 1}, "odd"], "nextPageToken": "T1"}')
    assert page.studies == [{"a": 1}, "odd"] and page.next_token == "T1"
    assert parse_page(b'{"studies": []}').next_token is None
    assert parse_page(b'{"studies": [], "nextPageToken": ""}').next_token is None


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"<html><body>503</body></html>", "text/html", "HTML page"),
        (b"<!DOCTYPE html><html>", "application/json", "HTML page"),
        (b'{"studies": [{"protocolSection": {"ident', "application/json", "not valid JSON"),
        (b"", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "JSON list"),
        (b'{"totalCount": 3}', "application/json", "no `studies` list"),
        (b'{"studies": [], "nextPageToken": 7}', "application/json", "nextPageToken"),
    ],
)
def test_anything_but_the_expected_json_is_a_bad_page_that_keeps_its_body(
    body: bytes, content_type: str, reason: str
) -> None:
    with pytest.raises(BadPage) as caught:
        parse_page(body, content_type)
    assert reason in caught.value.reason and caught.value.body == body


def test_the_version_needs_a_data_timestamp() -> None:
    found = parse_version(b'{"apiVersion": "2.0.5", "dataTimestamp": "2026-06-28T09:00:04"}')
    assert found.data_timestamp == "2026-06-28T09:00:04" and found.api_version == "2.0.5"
    with pytest.raises(BadPage):
        parse_version(b'{"apiVersion": "2.0.5"}')
    with pytest.raises(BadPage):
        parse_version(b'{"dataTimestamp": "yesterday"}')
