"""Worker processes serve Prometheus metrics: dramatiq's and ours."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import _truncate, make_runtime
from tests.support import event, record, write_jsonl


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_a_worker_process_serves_dramatiq_and_trialalerts_metrics(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    _truncate(pg_url)
    make_runtime(pg_url, tmp_path).close()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    env |= {
        "TRIALALERTS_DATABASE_URL": pg_url,
        "TRIALALERTS_BROKER_URL": redis_url,
        "TRIALALERTS_METRICS_PORT": str(port),
        "dramatiq_prom_db": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()
    events = write_jsonl(tmp_path / "e.jsonl", [event(record("NCT00973089"), "m1")])
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--processes", "1", "--threads", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        published = subprocess.run(
            [sys.executable, "-m", "worker", "publish", str(events)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert published.returncode == 0, published.stderr
        deadline, text = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            try:
                text = _metrics(port)
            except OSError:
                text = ""
            if 'trialalerts_ingested_total{outcome="applied"} 1.0' in text:
                break
            time.sleep(0.3)
        assert 'trialalerts_ingested_total{outcome="applied"} 1.0' in text, text[-2000:]
        assert "dramatiq_messages_total" in text
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
