"""`trialalerts bench`: every scenario produces its rows, the table and the JSON carry them.

Speed is what the benchmark reports, never what these tests check: they run a
tiny version of each scenario against the real databases and look at shapes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text

from tests.conftest import PG_ADMIN_URL
from worker.bench.databases import ADMIN_ENV
from worker.bench.rows import BenchRow
from worker.bench.runner import format_table, run_bench, write_json
from worker.bench.subscribers import bulk_load, synthetic_rows
from worker.cli.bench import bench
from worker.core.db import make_engine, make_sessionmaker
from worker.core.models import Base, Criteria, Subscriber, Subscription
from worker.subscriptions.lists import import_subscriptions

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def bench_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    """Benchmarks create their databases where the tests create theirs."""
    monkeypatch.setenv(ADMIN_ENV, PG_ADMIN_URL)


def test_each_scenario_reports_positive_figures_and_the_json_keeps_every_row(
    tmp_path: Path,
) -> None:
    rows = run_bench(["ingest", "matching", "digests"], scale="tiny")

    for prefix in ("ingest SQLite", "ingest PostgreSQL", "ingest: peak RSS"):
        assert any(row.scenario.startswith(prefix) for row in rows), prefix
    for size in ("200", "1k"):
        for figure in ("events matched", "time per event", "notification writes", "peak RSS"):
            assert any(row.scenario == f"matching {size} subscriptions: {figure}" for row in rows)
    assert any(row.scenario == "digests: send-ready" for row in rows)
    assert all(row.figure > 0 for row in rows), [row for row in rows if row.figure <= 0]
    notification_writes = [row for row in rows if row.scenario.endswith("notification writes")]
    assert all(row.anchor and row.anchor > 0 for row in notification_writes)

    path = tmp_path / "bench.json"
    write_json(path, rows, "tiny", NOW)
    document = json.loads(path.read_text())
    assert document["scale"] == "tiny"
    assert [row["scenario"] for row in document["rows"]] == [row.scenario for row in rows]
    assert all(
        set(row) >= {"figure", "unit", "anchor", "ratio", "target"} for row in document["rows"]
    )


def test_the_table_shows_every_row_with_its_ratio_and_notes_as_footnotes() -> None:
    rows = [
        BenchRow("matching 1M: notification writes", 30_000.0, "notifications/s", 60_000.0,
                 "COPY of the same rows", ">= 50 % of COPY", "same batches"),
        BenchRow("digests: peak RSS", 97.5, "MB", None, "", "", "same batches"),
    ]  # fmt: skip

    lines = format_table(rows).splitlines()

    assert lines[0].split() == ["scenario", "figure", "unit", "anchor", "anchor", "name", "ratio",
                                "target"]  # fmt: skip
    assert "matching 1M: notification writes [1]" in lines[2]
    assert "30,000" in lines[2] and "60,000" in lines[2] and "0.50" in lines[2]
    assert "digests: peak RSS [1]" in lines[3] and "97.5" in lines[3]
    assert lines[-1] == "[1] same batches"


def test_the_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"

    result = CliRunner().invoke(bench, ["--quick", "--only", "digests", "--json", str(path)])

    assert result.exit_code == 0, result.output
    assert "digests: send-ready" in result.stdout
    assert [row["scenario"] for row in json.loads(path.read_text())["rows"]] == [
        "digests: send-ready",
        "digests: peak RSS",
    ]


def _empty(engine: Engine) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _stored(engine: Engine) -> dict[str, list[Any]]:
    """Every subscriber, criteria and subscription row, ids replaced by what they stand for."""
    stored: dict[str, list[Any]] = {}
    with engine.connect() as connection:
        emails = dict(connection.execute(select(Subscriber.id, Subscriber.email)).all())
        signatures = dict(connection.execute(select(Criteria.id, Criteria.signature)).all())
        for model in (Subscriber, Criteria, Subscription):
            rows = []
            for row in connection.execute(select(model.__table__)).mappings():
                values = dict(row) | {"id": None}
                if "link_key" in values:  # random per row: only its presence is the same
                    values["link_key"] = len(values["link_key"]) >= 16
                if "subscriber_id" in values:
                    values["subscriber_id"] = emails[values["subscriber_id"]]
                if "criteria_id" in values:
                    values["criteria_id"] = signatures.get(values["criteria_id"])
                rows.append(values)
            stored[model.__tablename__] = sorted(rows, key=repr)
    return stored


def test_the_bulk_loader_writes_what_the_importer_writes(pg_url: str) -> None:
    rows = list(synthetic_rows(400, followable=30))
    engine = make_engine(pg_url)
    try:
        _empty(engine)
        with make_sessionmaker(engine)() as session, session.begin():
            report = import_subscriptions(session, list(enumerate(rows, start=2)), NOW)
        assert (report.created, report.rejected) == (400, ())
        imported = _stored(engine)

        _empty(engine)
        assert bulk_load(engine, iter(rows), NOW) == (
            len(imported["subscribers"]),
            len(imported["criteria"]),
            400,
        )
        assert _stored(engine) == imported
    finally:
        engine.dispose()


def test_the_end_to_end_scenario_delivers_every_digest_through_real_workers(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.bench.end_to_end.REDIS_URL", redis_url)
    rows = run_bench(["end-to-end"], scale="tiny")
    [throughput, rss] = rows
    assert throughput.figure > 0 and throughput.anchor and throughput.anchor > 0
    assert throughput.note.startswith("300 of 300 digests sent")
    assert rss.figure > 0


def test_the_fault_scenario_counts_what_arrived_exactly_once(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.bench.faults.REDIS_URL", redis_url)
    rows = run_bench(["faults"], scale="tiny")
    assert [row.scenario.split(",")[0] for row in rows] == [
        "faults: SIGKILL of the workers x10",
        "faults: FLUSHALL of Redis mid-run",
    ]
    for row in rows:
        assert row.figure == row.anchor and row.note.startswith("0 lost, 0 sent twice")
