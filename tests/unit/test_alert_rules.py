"""The alert rules (ops/prometheus/alerts.yml) name only metrics the code exports, and each
alert has its section in the runbook; promtool checks and unit-tests them (`make test` fetches
promtool into .venv/bin with scripts/promtool.sh when it is not on PATH)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from worker.core.metrics import DEFINITIONS

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "ops" / "prometheus" / "alerts_test.yml"
RUNBOOK = REPO / "docs" / "runbook.md"
METRIC = re.compile(r"\b(?:trialalerts|dramatiq)_[a-z0-9_]+\b")


def _rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _set_in_code() -> str:
    """Every source file that counts or sets a metric, metrics.py (the definitions) left out."""
    sources = (REPO / "worker").rglob("*.py")
    return "\n".join(p.read_text(encoding="utf-8") for p in sources if p.name != "metrics.py")


def test_every_rule_is_complete() -> None:
    rules = _rules()
    assert len(rules) >= 10
    for rule in rules:
        assert rule["alert"].startswith("Trialalerts"), rule
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_every_metric_the_rules_name_is_defined_and_written_by_the_code() -> None:
    code = _set_in_code()
    named = {name for rule in _rules() for name in METRIC.findall(rule["expr"])}
    assert "trialalerts_ctgov_cursor_lag_seconds" in named  # the poller's lag
    for name in sorted(named):
        assert name in DEFINITIONS, f"{name} is not in worker/core/metrics.py"
        assert f'"{name}"' in code, f"no code writes {name}"


def test_every_alert_has_its_runbook_section() -> None:
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for rule in _rules():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"docs/runbook.md has no section {rule['alert']}"


def _promtool() -> str:
    """promtool on PATH, or beside this interpreter (where scripts/promtool.sh puts it)."""
    found = shutil.which("promtool") or shutil.which(
        "promtool", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("promtool not found: scripts/promtool.sh fetches it (make test runs it)")
    return found


@pytest.mark.parametrize(
    "check", [["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]]
)
def test_promtool_accepts_the_rules_and_their_unit_tests(check: list[str]) -> None:
    done = subprocess.run(
        [_promtool(), *check], cwd=RULES.parent, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
