"""Throw-away databases for benchmarks: a SQLite file or a PostgreSQL database, dropped after.

PostgreSQL is reached through an admin connection (TRIALALERTS_BENCH_POSTGRES_URL,
by default the local server the tests use); each benchmark gets a database of
its own with the current schema, so figures never depend on earlier runs.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from worker.bench.corpus import BenchSetupError
from worker.core.db import make_engine
from worker.core.migrate import upgrade

ADMIN_ENV = "TRIALALERTS_BENCH_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEMPLATE_ATTEMPTS = 40


def admin_url() -> str:
    return os.environ.get(ADMIN_ENV) or DEFAULT_ADMIN_URL


def _with_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _create(admin: Engine, name: str, template: str | None) -> None:
    """CREATE DATABASE; a copy waits (a little) for the template's last sessions to end."""
    copy_of = f' TEMPLATE "{template}"' if template else ""
    for attempt in range(TEMPLATE_ATTEMPTS):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
            return
        except (OperationalError, ProgrammingError) as error:
            busy = "being accessed by other users" in str(error)
            if not busy or attempt == TEMPLATE_ATTEMPTS - 1:
                raise
            time.sleep(0.25)


@contextmanager
def throwaway_postgres(template: str | None = None) -> Iterator[str]:
    """A fresh database (with the schema, or a copy of `template`'s), dropped on exit."""
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    name = f"trialalerts_bench_{uuid.uuid4().hex[:10]}"
    try:
        _create(admin, name, template)
    except OperationalError as error:
        admin.dispose()
        raise BenchSetupError(f"PostgreSQL is not reachable ({ADMIN_ENV}): {error}") from None
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        if template is None:
            _with_schema(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_name(url: str) -> str:
    return make_url(url).database or ""


@contextmanager
def throwaway_sqlite() -> Iterator[str]:
    """A SQLite file with the schema in a temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="trialalerts-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        _with_schema(url)
        yield url
