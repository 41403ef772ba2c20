"""The database is the truth, messages are wake-ups: proven by killing things.

Real worker processes on PostgreSQL + Redis or RabbitMQ send digests through a
local SES endpoint; counts are taken at the endpoint.  Sizes are small by
default (CI); TRIALALERTS_FAULT_DIGESTS raises them (the full-size run is a
bench scenario).
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
    sigkill_repeatedly,
)
from worker.core.runtime import Runtime, set_runtime

# Each SIGKILL costs a restart of the workers (seconds). On Redis a killed worker's
# messages come back through the reconciler here; RabbitMQ hands them on at once, which
# three kills show as well as ten would.
REDIS_KILLS, RABBITMQ_KILLS = 10, 3


class SharedRedisDeployment(Deployment):
    """The workers are also told the Redis they share (pacer, holds): RabbitMQ needs it named."""

    def env(self) -> dict[str, str]:
        redis_url = self.runtime.settings.redis_url
        assert redis_url is not None
        return super().env() | {"TRIALALERTS_REDIS_URL": redis_url}


def _deploy(pg_url: str, broker_url: str, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    _truncate(pg_url)
    runtime: Runtime = make_runtime(
        pg_url,
        tmp_path,
        broker_url=broker_url,
        redis_url=redis_url,
        sending_lease_seconds=5,
        metrics_port=0,
    )
    set_runtime(runtime)
    prepare_digests(runtime, fault_scale(600))
    running = SharedRedisDeployment(runtime, broker_url, tmp_path)
    yield running
    running.stop()
    set_runtime(None)
    runtime.close()


@pytest.fixture
def deployment(
    pg_url: str, broker_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    """On Redis, then on RabbitMQ."""
    yield from _deploy(pg_url, broker_url, redis_url, tmp_path)


@pytest.fixture
def redis_deployment(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    yield from _deploy(pg_url, redis_url, redis_url, tmp_path)


def _assert_each_sent_once(deployment: Deployment, expected: int) -> None:
    sends = deployment.sends_per_delivery()
    assert len(sends) == expected, f"{expected - len(sends)} digests never arrived"
    twice = {delivery: n for delivery, n in sends.items() if n > 1}
    assert twice == {}, f"sent more than once: {twice}"


def test_sigkilled_workers_lose_nothing_and_send_nothing_twice(
    deployment: Deployment, broker_url: str, redis_url: str
) -> None:
    """Each digest is sent once.  The one exception the protocol allows: a send cut off
    by a kill in the moment between its in-flight mark and SES's answer, twice, is given
    up (worker/sending/rows.py); the test asserts that nothing else is."""
    kills = REDIS_KILLS if broker_url == redis_url else RABBITMQ_KILLS
    expected = deployment.claim_due_digests()
    deployment.start_workers()
    sigkill_repeatedly(deployment, expected, kills)
    given_up = deployment.given_up()
    assert all(deployment.interrupted[delivery] >= 2 for delivery in given_up), (
        f"given up without two interrupted sends: {given_up}, {deployment.interrupted}"
    )
    assert deployment.states()["sent"] == expected - len(given_up)
    sends = deployment.sends_per_delivery()
    never_reached_ses = given_up - set(sends)
    assert len(sends) == expected - len(never_reached_ses), "digests never arrived"
    twice = {delivery: n for delivery, n in sends.items() if n > 1}
    assert twice == {}, f"sent more than once: {twice}"


def test_flushing_redis_mid_run_loses_nothing(redis_deployment: Deployment) -> None:
    """Every queued message lost (and the pacer and holds): the reconciler wakes the rows."""
    expected = redis_deployment.claim_due_digests()
    redis_deployment.start_workers()
    flush_redis_once(redis_deployment, expected)
    _assert_each_sent_once(redis_deployment, expected)


def test_killed_database_connections_are_survived(
    redis_deployment: Deployment, pg_url: str
) -> None:
    """A database fault: one broker is enough."""
    deployment = redis_deployment
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
