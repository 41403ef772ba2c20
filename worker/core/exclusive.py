"""One runner at a time for long work that commits as it goes (a console import's apply).

Transaction-scoped locks (worker.core.sql.lock_keys) end at the first
commit; this one lasts until the work is done.  On PostgreSQL it is a
session advisory lock on a connection of its own: held across all the work's
transactions, in any process, and released by the server if the process
dies.  SQLite (the embedded mode, one process) uses a lock of this process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_held: set[tuple[str, int]] = set()
_guard = threading.Lock()


@contextmanager
def exclusive(engine: Engine, namespace: str, key: int) -> Iterator[bool]:
    """Yields True to the one caller holding (namespace, key); others get False at once."""
    if engine.dialect.name != "postgresql":
        with _guard:
            mine = (namespace, key) not in _held
            _held.add((namespace, key))
        try:
            yield mine
        finally:
            if mine:
                with _guard:
                    _held.discard((namespace, key))
        return
    arguments = {"ns": namespace, "key": str(key)}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        mine = bool(
            connection.scalar(
                text("SELECT pg_try_advisory_lock(hashtext(:ns), hashtext(:key))"), arguments
            )
        )
        try:
            yield mine
        finally:
            if mine:
                connection.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:ns), hashtext(:key))"), arguments
                )
