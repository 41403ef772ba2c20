"""The end-to-end run's CPU split: the real servers found by what they say of themselves."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
import redis

from worker.bench.cpu_use import read_process
from worker.bench.pipeline_cpu import CpuSplit, cpu_row, grouping, servers, wait_until_settled
from worker.bench.rows import at_least
from worker.core.db import make_engine


def test_the_servers_of_the_run_are_found_with_the_processes_they_started(
    pg_url: str, redis_url: str
) -> None:
    engine = make_engine(pg_url)
    try:
        found, unseen = servers(engine, redis_url, rabbitmq=True)
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
    assert sorted(found.values()) == ["PostgreSQL", "RabbitMQ", "Redis"]
    redis_pid = redis.Redis.from_url(redis_url).info("server")["process_id"]
    assert found[redis_pid] == "Redis"
    this = read_process(os.getpid())
    assert this is not None and group(this) == "this process"


def test_a_redis_that_is_not_this_machines_is_named_as_not_seen(
    pg_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pid from INFO that is another command here (a server in a container) is not taken."""
    real_info = redis.Redis.info

    def elsewhere(self: redis.Redis, *args: Any) -> dict[str, Any]:
        return {**real_info(self, *args), "process_id": 1}  # pid 1 here: init, not Redis

    monkeypatch.setattr(redis.Redis, "info", elsewhere)
    engine = make_engine(pg_url)
    try:
        found, unseen = servers(engine, redis_url, rabbitmq=False)
    finally:
        engine.dispose()
    assert unseen == ["Redis"] and list(found.values()) == ["PostgreSQL"]

    row = cpu_row("Redis", CpuSplit(None, reason="CPU use not readable from /proc: no"), 10,
                  at_least(1000, "digests/s"))  # fmt: skip
    assert row.figure is None and row.met is False and row.reason.endswith("no")


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
