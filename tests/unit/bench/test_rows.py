"""Bench rows: a target is a comparison the code evaluates; a row with no figure never passes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.bench import yardstick
from worker.bench.report import format_markdown, format_table, write_json
from worker.bench.rows import (
    BenchRow,
    at_least,
    at_most,
    error_reason,
    not_run,
    ratio_at_least,
    ratio_at_most,
)
from worker.bench.yardstick import speed

HOST = {"cpu": "Test CPU 3000", "cpus": 2, "python": "3.11.7", "platform": "Linux-test"}
STARTED = datetime(2026, 6, 29, 8, 30, tzinfo=UTC)


def test_a_target_reads_as_what_it_checks() -> None:
    assert at_least(10_000, "events/s").text == ">= 10,000 events/s"
    assert at_most(250, "MB").text == "<= 250 MB"
    assert ratio_at_most(1.5).text == "ratio <= 1.5"
    both = at_least(3000, "digests/s/core") & ratio_at_least(0.4)
    assert both.text == ">= 3,000 digests/s/core and ratio >= 0.4"


@pytest.mark.parametrize(
    ("figure", "anchor", "met"),
    [(3000.0, 7500.0, True), (2999.0, 5000.0, False), (3500.0, 10_000.0, False)],
)
def test_every_bound_of_a_target_must_hold(figure: float, anchor: float, met: bool) -> None:
    target = at_least(3000, "digests/s/core") & ratio_at_least(0.4)
    assert BenchRow("digests", figure, "digests/s/core", anchor, "bare", target).met is met


def test_a_ratio_target_without_an_anchor_is_not_met() -> None:
    assert BenchRow("flat", 80.0, "us/event", None, "10k", ratio_at_most(1.5)).met is False
    assert BenchRow("flat", 80.0, "us/event", 0.0, "10k", ratio_at_most(1.5)).met is False
    assert BenchRow("flat", 80.0, "us/event", 70.0, "10k", ratio_at_most(1.5)).met is True


def test_a_row_without_a_target_is_not_judged() -> None:
    assert BenchRow("peak RSS", 97.5, "MB").met is None


def test_a_row_that_did_not_run_fails_with_its_reason_and_no_number() -> None:
    row = not_run("end to end, RabbitMQ", "ConnectionError: refused", at_least(1000), "digests/s")

    assert row.met is False
    shown = row.as_dict()
    assert shown["figure"] is None and shown["ratio"] is None and shown["met"] is False
    assert shown["reason"] == "ConnectionError: refused"
    assert shown["target"] == ">= 1,000"


def test_a_row_without_a_target_that_did_not_run_still_fails() -> None:
    assert not_run("matching", "KeyError: 'x'").met is False


@pytest.mark.parametrize("figure", [math.nan, math.inf, None])
def test_a_figure_that_is_no_number_fails_and_is_never_printed(figure: float | None) -> None:
    row = BenchRow("ingest", figure, "events/s", math.nan, "bare INSERT")

    assert row.met is False and row.ratio is None
    assert row.as_dict()["figure"] is None and row.as_dict()["anchor"] is None
    assert row.as_dict()["reason"] == "no finite figure was measured"
    table = format_table([row])
    assert "nan" not in table.lower() and "inf" not in table.lower()
    assert "not run" in table


def test_measured_rows_have_no_reason() -> None:
    assert BenchRow("x", 0.0, "429s", target=at_most(0)).as_dict()["reason"] is None
    assert BenchRow("x", 0.0, "429s", target=at_most(0)).met is True


def test_json_rows_carry_the_contract_fields(tmp_path: Path) -> None:
    rows = [
        BenchRow("writes", 30_000.0, "notifications/s", 60_000.0, "COPY", ratio_at_least(0.5)),
        not_run("faults", "RuntimeError: workers exited"),
    ]
    path = tmp_path / "rows.json"

    write_json(path, rows, "quick", STARTED)

    document = json.loads(path.read_text())
    assert document["scale"] == "quick" and document["host"]["cpus"]
    keys = {"scenario", "figure", "unit", "anchor", "anchor_name", "ratio", "target", "met"}
    assert all(set(row) >= keys | {"reason"} for row in document["rows"])
    written, failed = document["rows"]
    assert (written["ratio"], written["target"], written["met"]) == (0.5, "ratio >= 0.5", True)
    assert (failed["figure"], failed["met"], failed["reason"]) == (
        None,
        False,
        "RuntimeError: workers exited",
    )


def test_the_table_shows_a_verdict_column_and_why_a_row_did_not_run() -> None:
    rows = [
        BenchRow("matching 10k: events matched", 4000.0, "events/s", target=at_least(10_000)),
        not_run("end to end, RabbitMQ", "broker unreachable", at_least(1000), "digests/s"),
    ]

    lines = format_table(rows, "quick").splitlines()

    assert lines[0].split()[-1] == "met"
    assert lines[2].split()[-1] == "NO" and "4,000" in lines[2]
    assert "not run" in lines[3] and lines[3].split()[-1] == "NO"
    assert "[1] not run: broker unreachable" in lines
    assert lines[-1].startswith("--quick: ")


def test_the_markdown_names_the_date_the_machine_and_escapes_cells() -> None:
    rows = [BenchRow("a | b", 1.0, "x", note="one | two"), not_run("c", "down")]

    text = format_markdown(rows, "full", STARTED, HOST)

    assert text.startswith("`trialalerts bench`, 2026-06-29 08:30 UTC, on Test CPU 3000, 2 cores, ")
    assert "Python 3.11.7" in text.splitlines()[0]
    assert "| a \\| b [1] | 1 | x | - |  | - |  | - |" in text
    assert "| c [2] | not run |" in text
    assert "1. one \\| two" in text and "2. not run: down" in text


def test_the_markdown_says_how_fast_the_machine_ran_before_and_after_the_run() -> None:
    host = {**HOST, "speed": speed(0.0812, 0.1204)}

    heading = format_markdown([BenchRow("a", 1.0, "x")], "full", STARTED, host).splitlines()[0]

    assert heading.endswith(
        "(Linux-test); a 1,000,000-step Python loop took 81 ms before the run "
        "and 120 ms after it (best of 3)"
    )


def test_the_json_keeps_the_machines_speed_and_what_was_timed(tmp_path: Path) -> None:
    host = {**HOST, "speed": speed(0.0812, 0.1204)}
    path = tmp_path / "rows.json"

    write_json(path, [BenchRow("a", 1.0, "x")], "full", STARTED, host)

    assert json.loads(path.read_text())["host"]["speed"] == {
        "loop_steps": 1_000_000,
        "turns": 3,
        "before_seconds": 0.0812,
        "after_seconds": 0.1204,
    }


def test_the_yardstick_is_its_fastest_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 5.0, 10.0, 12.0, 20.0, 27.0])  # turns of 5, 2 and 7 seconds
    monkeypatch.setattr(yardstick, "perf_counter", lambda: next(clock))

    assert yardstick.loop_seconds(steps=10, turns=3) == 2.0


def test_an_error_becomes_a_one_line_reason() -> None:
    reason = error_reason(ConnectionError("refused\n  on port 5672"))
    assert reason == "ConnectionError: refused on port 5672"
    assert len(error_reason(ValueError("x" * 1000))) == 400
