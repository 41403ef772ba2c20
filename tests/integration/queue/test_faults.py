"""The database is the truth, messages are wake-ups: proven by killing things.

Real worker processes on PostgreSQL + Redis send digests through a local SES
endpoint; counts are taken at the endpoint.  Sizes are small by default (CI);
TRIALALERTS_FAULT_DIGESTS raises them (the full-size run is a bench scenario).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _truncate, make_runtime
from worker.bench.faults import (
    Deployment,
    fault_scale,
    flush_redis_once,
    prepare_digests,
    sigkill_ten_times,
)
from worker.core.runtime import Runtime, set_runtime


@pytest.fixture
def deployment(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    _truncate(pg_url)
    runtime: Runtime = make_runtime(pg_url, tmp_path, broker_url=redis_url, sending_lease_seconds=5)
    set_runtime(runtime)
    prepare_digests(runtime, fault_scale(600))
    running = Deployment(runtime, redis_url, tmp_path)
    yield running
    running.stop()
    set_runtime(None)
    runtime.close()


def _assert_each_sent_once(deployment: Deployment, expected: int) -> None:
    sends = deployment.sends_per_delivery()
    assert len(sends) == expected, f"{expected - len(sends)} digests never arrived"
    twice = {delivery: n for delivery, n in sends.items() if n > 1}
    assert twice == {}, f"sent more than once: {twice}"


def test_sigkilled_workers_lose_nothing_and_send_nothing_twice(deployment: Deployment) -> None:
    expected = deployment.claim_due_digests()
    deployment.start_workers()
    sigkill_ten_times(deployment, expected)
    assert deployment.states()["sent"] == expected
    _assert_each_sent_once(deployment, expected)


def test_flushing_redis_mid_run_loses_nothing(deployment: Deployment) -> None:
    expected = deployment.claim_due_digests()
    deployment.start_workers()
    flush_redis_once(deployment, expected)
    _assert_each_sent_once(deployment, expected)


def test_killed_database_connections_are_survived(deployment: Deployment, pg_url: str) -> None:
    expected = deployment.claim_due_digests()
    deployment.start_workers()
    terminated: list[int] = []
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")

    def terminate_twice(sent: int) -> None:
        if len(terminated) < 2 and sent >= expected * (len(terminated) + 1) // 3:
            with admin.connect() as connection:
                killed = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            terminated.append(killed)

    try:
        deployment.run_until_sent(expected, timeout=180, on_progress=terminate_twice)
    finally:
        admin.dispose()
    assert len(terminated) == 2 and all(n > 0 for n in terminated), terminated
    _assert_each_sent_once(deployment, expected)
