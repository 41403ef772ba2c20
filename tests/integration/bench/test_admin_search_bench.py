"""The `admin-search` bench scenario: each console search timed against itself without indexes."""

from __future__ import annotations

import pytest

from tests.conftest import PG_ADMIN_URL
from worker.bench.databases import ADMIN_ENV
from worker.bench.runner import run_bench

pytestmark = pytest.mark.integration


def test_the_admin_search_scenario_times_each_search_against_a_table_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADMIN_ENV, PG_ADMIN_URL)

    rows = {row.scenario: row for row in run_bench(["admin-search"], scale="tiny")}

    searches = [row for name, row in rows.items() if name.startswith("admin search 20k: a")]
    searches += [row for name, row in rows.items() if name.startswith("admin search 20k: c")]
    assert len(searches) == 6
    for row in searches:
        assert row.unit == "ms" and (row.figure or 0) > 0 and (row.anchor or 0) > 0
        assert row.target is not None and row.target.text == "<= 100 ms and ratio <= 0.2"
        assert row.note.startswith("plan: ") and "Index Scan" in row.note
    assert "ix_subscribers_email_prefix" in rows["admin search 20k: address, next page"].note
    assert (rows["admin search 20k: load (SQL)"].figure or 0) > 0
    assert "admin-search: peak RSS" in rows
