"""A non-editable install (a wheel) finds its templates, schema and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support import event, record, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_its_data_and_runs_from_anywhere(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = dist.glob("trialalerts-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "worker/_data/schema/events/study-event.v1.json" in names
    assert "worker/_data/schema/migrations/env.py" in names
    assert any(n.startswith("worker/_data/templates/email/digest/") for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    env["PYTHONPATH"] = str(target)
    events = write_jsonl(work / "e.jsonl", [event(record("NCT00973089"), "w1")])
    script = (
        "import worker.core.paths as p, sys; print(p.schema_dir()); "
        "from worker.cli.main import main; sys.argv=['trialalerts', *sys.argv[1:]]; main()"
    )
    for args in (["db", "upgrade"], ["publish", str(events)], ["run", "--until-idle"]):
        result = subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(str(target)), result.stdout
    assert "changes: 1" in result.stdout
