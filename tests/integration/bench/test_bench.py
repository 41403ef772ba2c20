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
from worker.bench.cpu_use import snapshot
from worker.bench.databases import ADMIN_ENV
from worker.bench.report import format_table, write_json
from worker.bench.rows import BenchRow, ratio_at_least
from worker.bench.runner import run_bench
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
    [filtered] = [row for row in rows if "with eligibility and place filters" in row.scenario]
    assert filtered.scenario.startswith("matching 200 subscriptions, 30% with")
    assert filtered.anchor and filtered.anchor > 0 and filtered.met is not None
    turn = filtered.figure / filtered.anchor  # one turn at tiny scale: its ratio is the row's
    assert f"turn by turn the ratio read {turn:.2f} to {turn:.2f}" in filtered.note
    assert any(row.scenario == "digests: send-ready" for row in rows)
    assert [row for row in rows if row.failure] == []
    assert all(row.figure and row.figure > 0 for row in rows), [row for row in rows]
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
                 "COPY of the same rows", ratio_at_least(0.5), "same batches"),
        BenchRow("digests: peak RSS", 97.5, "MB", None, "", None, "same batches"),
    ]  # fmt: skip

    lines = format_table(rows).splitlines()

    assert lines[0].split() == ["scenario", "figure", "unit", "anchor", "anchor", "name", "ratio",
                                "target", "met"]  # fmt: skip
    assert "matching 1M: notification writes [1]" in lines[2]
    assert "30,000" in lines[2] and "60,000" in lines[2] and "0.50" in lines[2]
    assert "ratio >= 0.5" in lines[2] and lines[2].endswith("yes")
    assert "digests: peak RSS [1]" in lines[3] and "97.5" in lines[3]
    assert lines[-1] == "[1] same batches"


def test_the_command_prints_the_table_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's plumbing: `--quick` is asked for, a tiny run stands in for it."""
    asked: list[tuple[tuple[str, ...], str]] = []

    def tiny_run(only: tuple[str, ...], scale: str, **options: Any) -> list[BenchRow]:
        asked.append((only, scale))
        return run_bench(only, "tiny", **options)

    monkeypatch.setattr("worker.cli.bench.run_bench", tiny_run)
    path = tmp_path / "rows.json"

    result = CliRunner().invoke(bench, ["--quick", "--only", "digests", "--json", str(path)])

    assert result.exit_code == 0, result.output
    assert asked == [(("digests",), "quick")]
    assert "digests: send-ready" in result.stdout
    document = json.loads(path.read_text())
    assert [row["scenario"] for row in document["rows"]] == [
        "digests: send-ready",
        "digests: peak RSS",
    ]
    speed = document["host"]["speed"]
    assert 0 < speed["before_seconds"] < 60 and 0 < speed["after_seconds"] < 60


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


def test_the_end_to_end_scenario_delivers_every_digest_and_names_a_broker_that_cannot_run(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real workers on Redis; RabbitMQ pointed at a closed port becomes a row with the reason.

    (The workers on RabbitMQ are run by the pipeline and fault tests.)
    """
    monkeypatch.setattr("worker.bench.end_to_end.REDIS_URL", redis_url)
    monkeypatch.setattr("worker.bench.end_to_end.AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2F")
    rows = run_bench(["end-to-end"], scale="tiny")
    assert len(rows) == 4, rows
    [throughput, rss, cpu, rabbitmq] = rows
    assert throughput.scenario == "end to end, Redis, 100 daily digests"
    assert throughput.figure and throughput.figure > 0
    assert throughput.anchor and throughput.anchor > 0
    assert throughput.anchor_name == "the SES endpoint alone, 2 processes x 8 client threads"
    assert throughput.note.startswith("100 of 100 digests sent")
    assert rss.figure and rss.figure > 0
    assert cpu.scenario == "end to end, Redis: CPU per digest" and cpu.unit == "CPU-ms"
    assert cpu.figure and cpu.figure > 0
    split = cpu.note.split("per digest (ms): ")[1].split("; ")[0]
    parts = dict(part.rsplit(" ", 1) for part in split.split(", "))
    assert {"workers", "PostgreSQL", "SES endpoint", "Redis", "other"} <= parts.keys(), cpu.note
    assert float(parts["workers"]) > 0 and list(parts)[-1] == "other"
    # "other" is what no group claimed: the parts add up to the figure (ticks of 10 ms apart)
    assert sum(map(float, parts.values())) == pytest.approx(cpu.figure, rel=0.1, abs=0.3)
    assert cpu.note.endswith("at the target's 1,000 digests/s the cores give "
                             f"{snapshot().cores:.1f} ms a digest")  # fmt: skip
    assert rabbitmq.scenario == "end to end, RabbitMQ, 100 daily digests"
    assert rabbitmq.figure is None and rabbitmq.met is False
    assert rabbitmq.reason.startswith("RabbitMQ at amqp://guest:***@127.0.0.1:1/%2F: ")


def test_the_fault_scenario_counts_what_arrived_and_what_was_resent(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.bench.fault_runs.REDIS_URL", redis_url)
    rows = {row.scenario.replace(", 200 digests", ""): row
            for row in run_bench(["faults"], scale="tiny")}  # fmt: skip
    assert list(rows) == [
        "faults: SIGKILL of the workers x2: sent exactly once",
        "faults: Redis emptied mid-run (FLUSHDB): sent exactly once",
        "faults: SIGKILL of the workers x2, event publishing off: delivered",
        "faults: SIGKILL of the workers x2, event publishing off: sent twice",
        "faults: SIGKILL of the workers x2, event publishing off: resends beyond one per "
        "interrupted send",
    ]
    for name in list(rows)[:3]:
        assert rows[name].figure == rows[name].anchor == 200, rows[name]
        assert rows[name].note.startswith("0 lost, "), rows[name]
    assert "Send events 0.2-1 s after each accepted message, lease 3 s" in rows[list(rows)[0]].note
    twice = rows[list(rows)[3]]
    assert twice.anchor is not None and twice.figure is not None and twice.figure <= twice.anchor
    assert rows[list(rows)[4]].figure == 0


@pytest.mark.alone  # four sender processes against one endpoint's clock
def test_the_pacing_rows_come_from_what_arrived_at_a_real_endpoint(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four real sender processes through the Redis pacer, then the same four with none."""
    from worker.bench.pacing import pacing_rows
    from worker.bench.ses_endpoint import REDIS_ENV

    monkeypatch.setenv(REDIS_ENV, redis_url)

    paced, throttled = pacing_rows(max_rate=40.0, seconds=3.0)

    assert paced.scenario.endswith("MaxSendRate 40/s, fraction 0.95")
    assert paced.failure == "", paced
    assert paced.figure is not None and 20 <= paced.figure <= 41, paced
    assert paced.anchor is not None and 30 <= paced.anchor <= 41, paced
    assert "anchor: " in paced.note and " accepted of " in paced.note
    assert throttled.unit == "429s" and throttled.figure is not None
