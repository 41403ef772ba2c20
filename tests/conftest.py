"""Fixtures: real databases (SQLite file and PostgreSQL), Redis, RabbitMQ, the in-process broker.

PostgreSQL, Redis and RabbitMQ must be reachable (the test command starts them);
a test that needs one fails loudly when it is not, it never skips.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from worker.core.config import Settings
from worker.core.migrate import upgrade
from worker.core.models import Base
from worker.core.runtime import Runtime, set_runtime
from worker.queue.actors import install
from worker.queue.broker import QUEUES

PG_ADMIN_URL = os.environ.get(
    "TRIALALERTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Under pytest-xdist each worker process (gw0, gw1, ...) runs its own tests at the same
# time as the others: each gets Redis databases of its own (15 and 14 for gw0, 13 and 12
# for gw1, ...), as it gets its own PostgreSQL database and RabbitMQ virtual host below.
WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def redis_database(offset: int) -> str:
    """The Redis URL of this worker's database `offset` (0: the one the suite flushes)."""
    base = os.environ.get("TRIALALERTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    server, first = base.rsplit("/", 1)
    number = int(first) - 2 * WORKER_INDEX - offset
    if number < 0:
        raise RuntimeError(f"too many test workers for the Redis databases below {base}")
    return f"{server}/{number}"


REDIS_URL = redis_database(0)
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672"  # this run's virtual host is added to it
TEST_KEY = "test-secret-key-0123456789abcdef"
INGEST_TOKEN = "ingest-token-for-tests-0123456789"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL database with the schema, for this test session."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"trialalerts_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}", pytrace=False)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    runtime = Runtime(Settings(database_url=url))
    upgrade(runtime.engine)
    runtime.close()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trialalerts.db'}"
    url = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trialalerts.db'}"


def make_runtime(url: str, tmp_path: Path, **settings: object) -> Runtime:
    runtime = Runtime(
        Settings(database_url=url, outbox=tmp_path / "outbox", secret_keys=(TEST_KEY,), **settings)  # type: ignore[arg-type]
    )
    upgrade(runtime.engine)
    return runtime


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    broker = StubBroker()
    install(broker)
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, stub_broker: StubBroker) -> Iterator[Runtime]:
    """A runtime on a real database with the in-process broker installed."""
    runtime = make_runtime(database_url, tmp_path)
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.close()


@pytest.fixture
def ingest_runtime(database_url: str, tmp_path: Path, stub_broker: StubBroker) -> Iterator[Runtime]:
    """`runtime` with an ingest token: what POST /events needs."""
    runtime = make_runtime(database_url, tmp_path, ingest_token=INGEST_TOKEN)
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.close()


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}", pytrace=False)
    client.flushdb()
    client.close()
    return REDIS_URL


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(
            f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}; "
            "run the tests as a user who may use rabbitmqctl, or set TRIALALERTS_TEST_AMQP_URL "
            "to a virtual host of your own",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test run's own, deleted at the end.

    Workers take every message on their queues: in a virtual host another test
    run uses they would take its wake-ups. The guest user cannot add one over
    AMQP, so rabbitmqctl does. TRIALALERTS_TEST_AMQP_URL names one to use instead.
    """
    given = os.environ.get("TRIALALERTS_TEST_AMQP_URL")
    if given:
        yield given
        return
    vhost = f"trialalerts-test-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{RABBITMQ_URL}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _purge_rabbitmq(url: str) -> None:
    """Empty every queue of ours (and its .DQ and .XQ) that exists in the virtual host."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=url)
    try:
        for queue in set(QUEUES.values()):
            broker.flush(queue)
    except Exception as error:  # noqa: BLE001 - any failure means RabbitMQ is not usable
        pytest.fail(f"RabbitMQ is not reachable at {url}: {error}", pytrace=False)
    finally:
        broker.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """Each test using it runs twice: dramatiq on Redis, and on RabbitMQ (queues emptied).

    Either way `redis_url` (flushed) holds what all processes share: pass it as
    the settings' `redis_url`, which a RabbitMQ broker requires.
    """
    if request.param == "redis":
        return redis_url
    url = request.getfixturevalue("amqp_url")
    _purge_rabbitmq(url)
    return url


# Tests that take seconds each (real worker processes, subprocess commands, bench
# scenarios): run first, so that the parallel test processes do not end the run
# waiting on one of them.
SLOW_FIRST = (
    "tests/integration/bench/",
    "tests/integration/queue/test_faults.py",
    "tests/integration/test_wheel.py",
    "tests/integration/cli/",
    "tests/fuzz/",
    "tests/integration/subscriptions/test_file_safety.py",
    "tests/integration/registry/test_poll_command.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(SLOW_FIRST))
