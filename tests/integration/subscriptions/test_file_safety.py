"""Subscription files as a hostile sign-up or a careless admin leave them.

Exported CSV must never hand a spreadsheet a formula, and export -> import
must still round-trip; a file without newlines must not be held whole.
Driven through `trialalerts subscribers import/export` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.integration.cli.test_cli import trialalerts
from worker.subscriptions.files import FORMULA_STARTS, MAX_LINE_BYTES

HOSTILE = [
    {"email": "ann@example.org", "kind": "condition", "condition": "=HYPERLINK(\"x\")"},
    {"email": "ben@example.org", "kind": "condition", "condition": "+cmd|' /C calc'!A0"},
    {"email": "cat@example.org", "kind": "condition", "condition": "asthma",
     "countries": "@SUM(1+1)*cmd"},
    {"email": "dan@example.org", "kind": "condition", "condition": "-2+3 lymphoma"},
    {"email": "eve@example.org", "kind": "condition", "condition": "'quoted' melanoma"},
    {"email": "fay@example.org", "kind": "condition", "condition": "asthma",
     "countries": "=Italy;+France", "near": "-33.86,151.2,10"},
]  # fmt: skip


def _env(database_url: str) -> dict[str, str]:
    return {"TRIALALERTS_DATABASE_URL": database_url, "TRIALALERTS_SECRET_KEY": "k" * 32}


def _prepare(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = _env(database_url)
    if database_url.startswith("postgresql"):
        assert trialalerts("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    return env


def test_exported_csv_starts_no_cell_with_a_formula_and_round_trips(
    database_url: str, tmp_path: Path
) -> None:
    env = _prepare(database_url, tmp_path)
    source = tmp_path / "hostile.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in HOSTILE))
    imported = trialalerts("subscribers", "import", str(source), cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr + imported.stdout

    exported = trialalerts("subscribers", "export", "-o", "out.csv", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert '\'=HYPERLINK("x")' in cells
    assert "'@SUM(1+1)*cmd" in cells
    assert "''quoted' melanoma" in cells
    assert "'-33.86,151.2,10.0" in cells

    again = trialalerts("subscribers", "import", "out.csv", cwd=tmp_path, env=env)
    assert (again.returncode, again.stdout.strip()) == (
        0,
        "0 created, 0 updated, 6 unchanged, 0 rejected",
    ), again.stderr
    twice = trialalerts("subscribers", "export", cwd=tmp_path, env=env)
    assert twice.stdout == text
    as_jsonl = trialalerts("subscribers", "export", "--format", "jsonl", cwd=tmp_path, env=env)
    conditions = {json.loads(line)["condition"] for line in as_jsonl.stdout.splitlines()}
    assert {row["condition"] for row in HOSTILE} == conditions


def test_an_endless_line_is_one_line_error_and_the_rest_imports(
    database_url: str, tmp_path: Path
) -> None:
    env = _prepare(database_url, tmp_path)
    endless = "x" * (MAX_LINE_BYTES * 16)
    for suffix, header, good in (
        (".csv", "email,kind,condition\n", "amy@example.org,condition,asthma\n"),
        (".jsonl", "", json.dumps(HOSTILE[5] | {"email": "amy@example.org"}) + "\n"),
    ):
        path = tmp_path / f"endless{suffix}"
        path.write_text(header + endless + "\n" + good)
        done = trialalerts("subscribers", "import", str(path), "--dry-run", cwd=tmp_path, env=env)
        assert done.returncode == 1, done.stderr
        line = 2 if header else 1
        assert f"line {line}: line longer than {MAX_LINE_BYTES:,} bytes" in done.stderr
        assert "1 created" in done.stdout and "1 rejected" in done.stdout

        no_newline = tmp_path / f"one-line{suffix}"
        no_newline.write_text(header + endless)
        done = trialalerts("subscribers", "import", str(no_newline), cwd=tmp_path, env=env)
        assert done.returncode == 1, done.stderr
        assert "longer than" in done.stderr
