"""A scenario that cannot run is a row that did not run, and `--check` fails on it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from worker.bench import runner
from worker.bench.rows import BenchRow, at_least, at_most, not_run
from worker.bench.runner import Scenario, run_bench, run_scenario
from worker.bench.scale import Scale
from worker.cli import bench as bench_command


def _refused(scale: Scale) -> list[BenchRow]:
    raise ConnectionError("PostgreSQL refused the connection")


def _measured(scale: Scale) -> list[BenchRow]:
    return [BenchRow("fine: figure", 12.0, "events/s", target=at_least(10))]


def test_a_scenario_that_raises_is_one_row_with_the_error_as_reason() -> None:
    seen: list[str] = []

    [row] = run_scenario(Scenario("ingest", _refused, "", own_processes=True), "tiny", seen.append)

    assert row.scenario == "ingest" and row.figure is None and row.met is False
    assert row.reason == "ConnectionError: PostgreSQL refused the connection"
    assert "Traceback" in seen[0]


def test_a_scenario_with_no_rows_did_not_run() -> None:
    [row] = run_scenario(Scenario("empty", lambda scale: [], "", own_processes=True), "tiny")
    assert row.met is False and row.reason == "the scenario returned no rows"


def test_the_other_scenarios_still_run_after_one_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    scenarios = (
        Scenario("broken", _refused, "", own_processes=True),
        Scenario("fine", _measured, "", own_processes=True),
    )
    monkeypatch.setattr(runner, "SCENARIOS", scenarios)

    rows = run_bench(scale="tiny")

    assert [(row.scenario, row.met) for row in rows] == [("broken", False), ("fine: figure", True)]


def _invoke(monkeypatch: pytest.MonkeyPatch, rows: list[BenchRow], *args: str) -> Result:
    monkeypatch.setattr(bench_command, "run_bench", lambda only, scale, progress: rows)
    return CliRunner().invoke(bench_command.bench, ["--check", *args])


def test_check_exits_1_when_a_scenario_could_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = [
        BenchRow("fine: figure", 12.0, "events/s", target=at_least(10)),
        not_run("faults", "RuntimeError: the workers exited"),
    ]
    path = tmp_path / "rows.json"

    result = _invoke(monkeypatch, rows, "--json", str(path))

    assert result.exit_code == 1
    assert "faults" in result.stderr
    written = orjson.loads(path.read_bytes())["rows"]
    assert written[1] | {"note": ""} == {
        "scenario": "faults", "figure": None, "unit": "", "anchor": None, "anchor_name": "",
        "ratio": None, "target": None, "met": False, "note": "",
        "reason": "RuntimeError: the workers exited",
    }  # fmt: skip


def test_check_exits_1_when_a_target_is_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [BenchRow("pacing: throttled", 3.0, "429s", target=at_most(0))]
    assert _invoke(monkeypatch, rows).exit_code == 1


def test_check_passes_when_every_judged_row_is_met(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [BenchRow("fine", 12.0, "events/s", target=at_least(10)), BenchRow("rss", 90.0, "MB")]
    assert _invoke(monkeypatch, rows).exit_code == 0


def test_without_check_a_missed_target_still_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_command, "run_bench", lambda only, scale, progress: [
        not_run("faults", "down")])  # fmt: skip
    assert CliRunner().invoke(bench_command.bench, []).exit_code == 0


def test_markdown_goes_to_a_file_or_to_stdout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = [BenchRow("fine", 12.0, "events/s", target=at_least(10))]
    monkeypatch.setattr(bench_command, "run_bench", lambda only, scale, progress: rows)
    path = tmp_path / "bench.md"

    to_file = CliRunner().invoke(bench_command.bench, ["--quick", "--markdown", str(path)])
    to_stdout = CliRunner().invoke(bench_command.bench, ["--markdown", "-"])

    assert to_file.exit_code == 0 and path.read_text().startswith("`trialalerts bench --quick`, ")
    heading = path.read_text().splitlines()[0]
    assert "-step Python loop took " in heading and heading.endswith("after it (best of 3)")
    assert "| fine | 12 | events/s | - |  | - | >= 10 | yes |" in path.read_text()
    assert "`trialalerts bench`, " in to_stdout.stdout and "| fine | 12 |" in to_stdout.stdout
