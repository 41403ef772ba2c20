"""Statements compiled once reach the driver with exactly the SQL and values `execute` gives."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, update

from worker.core.delivery_states import State
from worker.core.runtime import Runtime
from worker.sending.precompiled import Precompiled
from worker.sending.rows import DELIVERIES, INSTANT, _mark_statement, _record_statements

AT = datetime(2026, 6, 29, 10, tzinfo=timezone(timedelta(hours=2)))  # made UTC by its processor
VALUES = {
    "p_id": 7,
    "p_owned_at": AT,
    "p_at": AT,
    "p_state": "sent",
    "p_message_id": "ses-1",
    "p_sent_at": AT,
    "p_error": None,
    "p_back": 0,
    "p_now": AT,
}


@contextmanager
def driver_calls(connection: Connection | Engine) -> Iterator[list[tuple[str, Any]]]:
    """What the driver is given meanwhile (SQLite's BEGIN IMMEDIATE left out)."""
    calls: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        if not sql.startswith("BEGIN"):
            calls.append((sql, parameters))

    event.listen(connection, "before_cursor_execute", seen)
    try:
        yield calls
    finally:
        event.remove(connection, "before_cursor_execute", seen)


def test_the_driver_gets_what_execute_gives_it(runtime: Runtime) -> None:
    statements = [_mark_statement(), *_record_statements()]
    with runtime.engine.connect() as connection:
        for precompiled in statements:
            with driver_calls(connection) as by_execute:
                connection.execute(precompiled.statement, VALUES)
            with driver_calls(connection) as compiled_once:
                precompiled.execute(connection, VALUES)
            assert compiled_once == by_execute
        connection.rollback()


def test_several_values_run_as_executemany(runtime: Runtime) -> None:
    precompiled = _record_statements()[0]
    with runtime.engine.connect() as connection:
        with driver_calls(connection) as calls:
            written = precompiled.execute(connection, [VALUES, {**VALUES, "p_id": 8}])
        assert len(calls) == 1 and len(calls[0][1]) == 2
        assert written.rowcount == 0  # no such rows
        connection.rollback()


def test_an_in_list_cannot_be_compiled_once(runtime: Runtime) -> None:
    statement = Precompiled(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_([1, 2]), DELIVERIES.c.state == State.SENDING)
        .values(updated_at=bindparam("p_now", type_=INSTANT))
    )
    with runtime.engine.connect() as connection, pytest.raises(ValueError, match="IN lists"):
        statement.execute(connection, {"p_now": datetime.now(UTC)})


def test_a_disposed_engine_s_dialect_is_not_kept_alive_by_the_compiled_forms() -> None:
    engine = create_engine("sqlite://")
    statement = Precompiled(
        update(DELIVERIES).where(DELIVERIES.c.id == bindparam("p_id")).values(last_error="x")
    )
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE deliveries (id INTEGER, last_error TEXT)")
        statement.execute(connection, {"p_id": 1})
    dialect = weakref.ref(engine.dialect)
    engine.dispose()
    del engine, connection
    gc.collect()
    assert dialect() is None
