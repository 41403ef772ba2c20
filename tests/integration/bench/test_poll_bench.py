"""The `poll` bench scenario: rows for the poller's path, its anchor, publish and ingest."""

from __future__ import annotations

import pytest

from tests.conftest import PG_ADMIN_URL
from worker.bench.databases import ADMIN_ENV
from worker.bench.runner import run_bench

pytestmark = pytest.mark.integration


def test_the_poll_scenario_compares_the_poller_with_plain_get_and_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADMIN_ENV, PG_ADMIN_URL)

    rows = {row.scenario: row for row in run_bench(["poll"], scale="tiny")}

    fetch = rows["poll: fetch + events"]
    assert fetch.unit == "studies/s" and (fetch.figure or 0) > 0 and (fetch.anchor or 0) > 0
    assert fetch.target is not None and fetch.target.text == "ratio >= 0.5"
    assert (rows["poll: fetch + publish (PostgreSQL)"].figure or 0) > 0
    assert (rows["poll: ingest of the polled events (PostgreSQL)"].figure or 0) > 0
    assert "poll: peak RSS" in rows
