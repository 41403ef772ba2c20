"""Every process we start writes one JSON log schema: the worker (dramatiq's own lines
included), the scheduler and gunicorn (error and access log), with link tokens cut."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import TEST_KEY, _truncate, make_runtime
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

SCHEMA = {"time", "level", "process", "pid", "logger", "message"}
TOKEN = "eyJzIjo0MiwiayI6ImFiYyJ9.c2lnbmF0dXJlLW5vdC12YWxpZA"


def _lines(path: Path, process: str) -> list[dict[str, Any]]:
    """Every line of PATH, each one JSON object in the shared schema of PROCESS."""
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        line = json.loads(text)
        assert set(line) >= SCHEMA, text
        assert line["process"] == process, text
        lines.append(line)
    return lines


def _env(pg_url: str, **more: str) -> dict[str, str]:
    return clean_env(
        TRIALALERTS_DATABASE_URL=pg_url,
        TRIALALERTS_BROKER_URL=own_redis_url(),
        TRIALALERTS_SECRET_KEY=TEST_KEY,
        **more,
    )


def test_worker_processes_and_dramatiq_write_json_lines(tmp_path: Path, pg_url: str) -> None:
    _truncate(pg_url)
    make_runtime(pg_url, tmp_path).close()
    port = free_port()
    env = _env(
        pg_url,
        TRIALALERTS_METRICS_PORT=str(port),
        TRIALALERTS_METRICS_DIR=str(tmp_path / "metrics"),
    )
    events = write_jsonl(tmp_path / "e.jsonl", [event(record("NCT04267848"), "log-1")])
    with running(["worker", "--processes", "1", "--threads", "1"], env, tmp_path, "worker"):
        published = subprocess.run(
            [sys.executable, "-m", "worker", "publish", str(events)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )
        assert published.returncode == 0, published.stderr
        wait_until(
            lambda: "events.ingest" in (tmp_path / "worker.err").read_text(), what="the ingest line"
        )
    lines = _lines(tmp_path / "worker.err", "worker")
    assert (tmp_path / "worker.out").read_text() == ""
    loggers = {line["logger"] for line in lines}
    assert {"dramatiq.MainProcess", "dramatiq.WorkerProcess(0)"} <= loggers
    ingest = [line for line in lines if line.get("actor") == "events.ingest"]
    assert ingest and ingest[0]["message_id"] and ingest[0]["logger"] == "worker.queue.pipeline"


def test_the_scheduler_writes_json_lines_and_serves_the_gauges_the_alerts_watch(
    tmp_path: Path, pg_url: str
) -> None:
    _truncate(pg_url)
    make_runtime(pg_url, tmp_path).close()
    port = free_port()
    env = _env(pg_url, TRIALALERTS_SCHEDULER_METRICS_PORT=str(port))

    def page() -> str:
        return http_get(f"http://127.0.0.1:{port}/metrics")[1]

    with running(["scheduler", "--interval", "1"], env, tmp_path, "scheduler"):
        wait_until(
            lambda: "trialalerts_scheduler_tick_timestamp_seconds " in page(),
            what="the scheduler's first tick",
        )
        text = page()
    assert metrics_value(text, 'trialalerts_deliveries{state="queued"}') == 0
    assert metrics_value(text, "trialalerts_dead_letters") == 0
    assert metrics_value(text, 'trialalerts_sending_hold_seconds{reason="pause"}') == 0
    assert 'trialalerts_scheduler_job_success_timestamp_seconds{job="digests"}' in text
    lines = _lines(tmp_path / "scheduler.err", "scheduler")
    assert any(line["message"].startswith("scheduler ticking every") for line in lines)


def test_gunicorn_error_and_access_logs_are_json_without_tokens(
    tmp_path: Path, pg_url: str
) -> None:
    _truncate(pg_url)
    make_runtime(pg_url, tmp_path).close()
    port = free_port()
    env = _env(pg_url)
    base = f"http://127.0.0.1:{port}"
    paths = [
        f"/u/{TOKEN}",
        f"/u/s/{TOKEN}",
        f"/u/all/{TOKEN}",
        f"/preferences/{TOKEN}",
        f"/confirm/{TOKEN}?email=ada@example.org",
    ]
    with running(["web", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, tmp_path, "web"):
        wait_until(lambda: http_get(f"{base}/healthz")[0] == 200, what="gunicorn")
        statuses = [http_get(base + path)[0] for path in paths]
        wait_until(
            lambda: (tmp_path / "web.out").read_text().count("\n") >= 1 + len(paths),
            what="the access log",
        )
        wait_until(lambda: "place gazetteer ready" in (tmp_path / "web.err").read_text(),
                   what="the gazetteer read at the worker's start, not in a request")  # fmt: skip
    assert all(status < 500 for status in statuses), statuses
    everything = (tmp_path / "web.out").read_text() + (tmp_path / "web.err").read_text()
    assert TOKEN not in everything and "ada@example.org" not in everything
    access = _lines(tmp_path / "web.out", "web")
    assert {line["logger"] for line in access} == {"gunicorn.access"}
    assert [line["path"] for line in access[1:]] == [
        "/u/…",
        "/u/s/…",
        "/u/all/…",
        "/preferences/…",
        "/confirm/…",
    ]
    assert all(line["method"] == "GET" and isinstance(line["status"], int) for line in access)
    errors = _lines(tmp_path / "web.err", "web")
    assert any(line["logger"] == "gunicorn.error" for line in errors)
