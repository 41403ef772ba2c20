"""Engine and sessions; SQLite tuned for the embedded default, PostgreSQL for production.

A SQLite file is owner-only (worker.core.private_files): it holds addresses
and health conditions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from worker.core.private_files import private_sqlite_file

# Execution option of a session that never writes: `session.connection(execution_options=…)`.
READ_ONLY = "trialalerts_read_only"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    """SQLite gives JSON numbers back as numbers (NUMERIC affinity); text is parsed."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def make_engine(url: str, **kwargs: Any) -> Engine:
    """One engine per process; nothing connects until first use (a SQLite file is made private)."""
    options: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": _json_loads,
        "pool_pre_ping": True,
    }
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    options.update(kwargs)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite_file(Path(database))
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself so writers take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    """lower() for every letter, as PostgreSQL's: SQLite's own folds A-Z only (É stays É)."""
    return value.lower() if isinstance(value, str) else value


def _sqlite_begin_immediate(connection: Any) -> None:
    """Several threads write one SQLite file: take the write lock at BEGIN, not mid-way.

    A connection marked READ_ONLY begins deferred instead: in WAL mode it reads
    the last commit without waiting for a writer, however long that one holds
    the lock (an admin import's dry run holds it for as long as it reads the file).
    """
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
