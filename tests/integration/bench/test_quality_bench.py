"""`trialalerts bench --only matching-quality --check`: the quality rows, judged."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from worker.cli.bench import bench


def test_the_quality_rows_carry_their_targets_and_name_every_failure(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    done = CliRunner().invoke(bench, ["--only", "matching-quality", "--check", "--json", str(path)])
    assert done.exit_code == 0, done.output
    rows = {row["scenario"]: row for row in json.loads(path.read_text())["rows"]}
    precision = rows["matching quality: precision"]
    recall = rows["matching quality: recall"]
    assert precision["met"] is True and precision["target"] == ">= 0.99"
    assert recall["met"] is True and recall["target"] == ">= 0.97"
    assert "misses: 'uveal melanoma' / NCT06970236" in recall["note"]
    assert rows["matching quality: thesaurus pairs matched"]["met"] is None
    [shown] = [line for line in done.output.splitlines() if line.startswith("matching quality: p")]
    assert shown.endswith("yes") and "'flu' / NCT98000006" in done.output
