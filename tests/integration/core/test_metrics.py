"""Worker processes serve Prometheus metrics, dramatiq's and ours, counted from this run only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REDIS_URL, _truncate, make_runtime
from tests.integration.core.processes import (
    clean_env,
    free_port,
    http_get,
    metrics_value,
    own_redis_url,
    running,
    wait_until,
)
from tests.support import event, record, write_jsonl

APPLIED = 'trialalerts_ingested_total{outcome="applied"}'


def _publish(env: dict[str, str], cwd: Path, *events: dict) -> None:
    path = write_jsonl(cwd / "events.jsonl", list(events))
    done = subprocess.run(
        [sys.executable, "-m", "worker", "publish", str(path)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _metrics(port: int) -> str | None:
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    return text if status == 200 else None


def _applied(port: int) -> float | None:
    return metrics_value(_metrics(port) or "", APPLIED)


def test_a_restarted_worker_counts_from_what_this_run_did(tmp_path: Path, pg_url: str) -> None:
    _truncate(pg_url)
    make_runtime(pg_url, tmp_path).close()
    port, folder = free_port(), tmp_path / "metrics"
    env = clean_env(
        TRIALALERTS_DATABASE_URL=pg_url,
        TRIALALERTS_BROKER_URL=own_redis_url(),
        TRIALALERTS_METRICS_PORT=str(port),
        TRIALALERTS_METRICS_DIR=str(folder),
    )
    worker = ["worker", "--processes", "1", "--threads", "2"]

    with running(worker, env, tmp_path, "first"):
        _publish(
            env, tmp_path, event(record("NCT00973089"), "m1"), event(record("NCT04267848"), "m2")
        )
        wait_until(lambda: _applied(port) == 2, what="the first run's two events")
        assert "dramatiq_messages_total" in (_metrics(port) or "")
    left_behind = [p.name for p in folder.glob("counter_*.db")]
    assert left_behind  # a stopped run's counters, which prometheus_client would add up

    with running(worker, env, tmp_path, "second"):
        wait_until(lambda: _metrics(port) is not None, what="the second run's metrics")
        assert _applied(port) is None
        _publish(env, tmp_path, event(record("NCT02210780"), "m3"))
        wait_until(lambda: _applied(port), what="the second run's event")
        assert _applied(port) == 1  # this run's one event, not 3


def test_an_unusable_metrics_folder_stops_the_worker_at_start(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for folder in (tmp_path / "a-file" / "metrics", Path("/proc/self")):
        env = clean_env(TRIALALERTS_BROKER_URL=REDIS_URL, TRIALALERTS_METRICS_DIR=str(folder))
        done = subprocess.run(
            [sys.executable, "-m", "worker", "worker"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "TRIALALERTS_METRICS_DIR" in done.stderr and str(folder) in done.stderr
