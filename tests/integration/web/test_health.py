"""`GET /healthz` against real services, and an app that opens nothing until asked.

Healthy means the database answers `SELECT 1` and, with a broker, Redis answers
PING or RabbitMQ takes a connection (and its Redis answers); otherwise 503 names
the part that failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_runtime
from worker.core.runtime import Runtime
from worker.web.app import create_app

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
CLOSED_PORT_RABBITMQ = "amqp://guest:guest@127.0.0.1:1/"
CLOSED_PORT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"


def test_healthy_with_the_embedded_broker(runtime: Runtime) -> None:
    answer = create_app(runtime).test_client().get("/healthz")
    assert (answer.status_code, answer.json) == (200, {"database": "ok", "broker": "ok"})


def test_healthy_with_redis(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    runtime = make_runtime(pg_url, tmp_path, broker_url=redis_url)
    answer = create_app(runtime).test_client().get("/healthz")
    runtime.close()
    assert (answer.status_code, answer.json) == (200, {"database": "ok", "broker": "ok"})


def test_healthy_with_rabbitmq_and_its_redis(
    sqlite_url: str, amqp_url: str, redis_url: str, tmp_path: Path
) -> None:
    runtime = make_runtime(sqlite_url, tmp_path, broker_url=amqp_url, redis_url=redis_url)
    answer = create_app(runtime).test_client().get("/healthz")
    runtime.close()
    assert answer.status_code == 200
    assert answer.json == {"database": "ok", "broker": "ok", "redis": "ok"}


def test_an_unreachable_rabbitmq_or_redis_beside_it_is_named(
    sqlite_url: str, amqp_url: str, redis_url: str, tmp_path: Path
) -> None:
    for broker, shared, down in (
        (CLOSED_PORT_RABBITMQ, redis_url, {"broker": "unreachable", "redis": "ok"}),
        (amqp_url, CLOSED_PORT_REDIS, {"broker": "ok", "redis": "unreachable"}),
    ):
        runtime = make_runtime(sqlite_url, tmp_path, broker_url=broker, redis_url=shared)
        answer = create_app(runtime).test_client().get("/healthz")
        runtime.close()
        assert (answer.status_code, answer.json) == (503, {"database": "ok", **down})


def test_an_unreachable_broker_is_named(sqlite_url: str, tmp_path: Path) -> None:
    runtime = make_runtime(sqlite_url, tmp_path, broker_url=CLOSED_PORT_REDIS)
    answer = create_app(runtime).test_client().get("/healthz")
    runtime.close()
    assert answer.status_code == 503
    assert answer.json == {"database": "ok", "broker": "unreachable"}


def test_an_unreachable_database_is_named(tmp_path: Path) -> None:
    from worker.core.config import Settings

    runtime = Runtime(
        Settings(database_url=CLOSED_PORT_POSTGRES, secret_keys=("k" * 32,)),
        engine_options={"connect_args": {"connect_timeout": 2}},
    )
    answer = create_app(runtime).test_client().get("/healthz")
    runtime.close()
    assert answer.status_code == 503
    assert answer.json == {"database": "unreachable", "broker": "ok"}


def test_importing_the_app_opens_nothing(tmp_path: Path) -> None:
    """gunicorn imports worker.web:app before any service may be up."""
    env = {
        **os.environ,
        "TRIALALERTS_DATABASE_URL": CLOSED_PORT_POSTGRES,
        "TRIALALERTS_BROKER_URL": CLOSED_PORT_REDIS,
    }
    code = "import worker.web as web; assert web.app.name == 'worker.web'; print('imported')"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, "imported"), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_embedded_default_prepares_itself_on_first_request(tmp_path: Path) -> None:
    """No settings at all: SQLite in the working folder, a generated key, the schema made."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIALALERTS_")}
    code = (
        "from worker.web.app import app\n"
        "client = app.test_client()\n"
        "print(client.get('/healthz').status_code, client.get('/signup').status_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.stdout.split() == ["200", "200"], done.stderr
    assert {path.name for path in tmp_path.iterdir()} >= {"trialalerts.db", ".trialalerts-secret"}
