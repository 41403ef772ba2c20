"""The end-to-end run's CPU split: the real servers found by what they say of themselves."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from worker.bench import cpu_use, pipeline_cpu
from worker.bench.cpu_use import read_process
from worker.bench.pipeline_cpu import CpuSplit, cpu_row, grouping, servers, wait_until_settled
from worker.bench.rows import at_least
from worker.core.db import make_engine

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


def test_the_servers_of_the_run_are_found_with_the_processes_they_started(
    pg_url: str, redis_url: str
) -> None:
    engine = make_engine(pg_url)
    try:
        found, unseen = servers(engine, redis_url, AMQP)
        group = grouping(workers=-1, endpoint=-1, found=found)
        with engine.connect() as connection:  # its backend lives as long as the connection
            backend = read_process(
                connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            )
            assert backend is not None and group(backend) == "PostgreSQL"  # a child of the server
            server = read_process(backend.parent)
            assert server is not None and group(server) == "PostgreSQL"
    finally:
        engine.dispose()
    assert unseen == []
    assert sorted(found.values()) == ["PostgreSQL", "RabbitMQ", "Redis"]  # the node, not a CLI
    redis_pid = redis.Redis.from_url(redis_url).info("server")["process_id"]
    assert found[redis_pid] == "Redis"
    this = read_process(os.getpid())
    assert this is not None and group(this) == "this process"


def _servers_with_info(
    pg_url: str, redis_url: str, amqp_url: str | None, monkeypatch: pytest.MonkeyPatch,
    info: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[dict[int, str], list[str]]:  # fmt: skip
    real_info = redis.Redis.info

    def told(self: redis.Redis, *args: Any) -> dict[str, Any]:
        return info(real_info(self, *args))

    monkeypatch.setattr(redis.Redis, "info", told)
    engine = make_engine(pg_url)
    try:
        return servers(engine, redis_url, amqp_url)
    finally:
        engine.dispose()


def refused(_: dict[str, Any]) -> dict[str, Any]:
    raise redis.ResponseError("NOPERM this user has no permissions to run the 'info' command")


@pytest.mark.parametrize(
    "info",
    [
        pytest.param(lambda real: {**real, "process_id": 1}, id="pid 1 here: init, not Redis"),
        pytest.param(
            lambda real: {**real, "uptime_in_seconds": real["uptime_in_seconds"] + 3600},
            id="the same pid here, started at another time: a namesake elsewhere",
        ),
        pytest.param(refused, id="INFO refused"),
    ],
)
def test_a_redis_not_seen_here_is_named_and_a_remote_rabbitmq_too(
    pg_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch,
    info: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:  # fmt: skip
    remote = "amqp://guest:guest@rabbit.example:5672/%2F"
    found, unseen = _servers_with_info(pg_url, redis_url, remote, monkeypatch, info)

    assert unseen == ["Redis", "RabbitMQ"] and list(found.values()) == ["PostgreSQL"]


def test_a_cpu_row_that_could_not_be_read_is_not_run() -> None:
    row = cpu_row("Redis", CpuSplit(None, reason="CPU use not readable from /proc: no"), 10,
                  at_least(1000, "digests/s"))  # fmt: skip
    assert row.figure is None and row.met is False and row.reason.endswith("no")


def test_without_a_readable_proc_the_workers_get_a_fixed_while_to_boot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(cpu_use, "PROC", tmp_path / "missing")
    monkeypatch.setattr(pipeline_cpu.time, "sleep", slept.append)

    wait_until_settled(os.getpid(), lambda: True)

    assert slept == [3]


def test_waiting_for_workers_to_settle_outlasts_their_start_up() -> None:
    burn = (
        "import time\nend = time.process_time() + 1.0\n"
        "while time.process_time() < end: pass\ntime.sleep(30)\n"
    )
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", burn], start_new_session=True)
    try:
        wait_until_settled(child.pid, lambda: child.poll() is None, limit=20)
        waited = time.monotonic() - start
        process = read_process(child.pid)
        hertz = os.sysconf("SC_CLK_TCK")
        assert process is not None and process.ticks >= 0.95 * hertz  # its second of CPU, done
        assert waited < 10
    finally:
        child.kill()
        child.wait()

    start = time.monotonic()
    wait_until_settled(child.pid, lambda: False, limit=20)  # gone: no waiting
    assert time.monotonic() - start < 1
