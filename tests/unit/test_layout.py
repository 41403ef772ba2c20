"""The package tree reads like the data flow, and the layers hold (import-linter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGES = {
    "core", "ingest", "matching", "subscriptions", "digests", "sending",
    "feedback", "queue", "registry", "web", "cli", "bench",
}  # fmt: skip


def test_worker_holds_only_stage_packages_and_its_entry_points() -> None:
    top = ROOT / "worker"
    modules = {path.name for path in top.glob("*.py")}
    packages = {path.name for path in top.iterdir() if (path / "__init__.py").is_file()}
    assert modules == {"__init__.py", "__main__.py"}
    assert packages == STAGES


def test_the_import_linter_contracts_hold() -> None:
    """Stages import only the stages below them; no cycles; production never imports bench."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout
