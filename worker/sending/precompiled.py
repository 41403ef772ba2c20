"""The send loop's per-message statements, compiled once per dialect and run as driver SQL.

Every message runs two statements (worker/sending/rows.py, steps 3 and 4).
`Connection.execute` of a Core statement finds its compiled form and builds
its parameters anew each time, which takes more of the worker's CPU than the
database takes to run it.  `exec_driver_sql` runs SQL compiled once and keeps
what matters of SQLAlchemy: the transaction (SQLite's BEGIN IMMEDIATE), the
events, and the disconnect handling the writer's retry relies on.  Values go
through the same bind processors as under `execute`, so the same values reach
the driver.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Form:
    """One statement as one dialect runs it."""

    sql: str
    order: tuple[str, ...] | None  # parameter names in order, for positional paramstyles
    literals: dict[str, Any]  # the statement's own values, processed
    given: tuple[tuple[str, Callable[[Any], Any] | None], ...]  # the values of each call

    def parameters(self, given: Mapping[str, Any]) -> Any:
        """The values for the driver; other keys of `given` are left out, as `execute` does."""
        values = dict(self.literals)
        for name, process in self.given:
            value = given[name]
            values[name] = process(value) if process is not None else value
        return values if self.order is None else tuple(values[name] for name in self.order)


def _form(statement: Any, dialect: Dialect) -> _Form:
    compiled = statement.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError("a statement compiled once cannot expand IN lists at each call")
    literals: dict[str, Any] = {}
    given: list[tuple[str, Callable[[Any], Any] | None]] = []
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.required:
            given.append((name, process))
        else:
            value = bind.effective_value
            literals[name] = process(value) if process is not None else value
    order = tuple(compiled.positiontup) if compiled.positional else None
    return _Form(compiled.string, order, literals, tuple(given))


class Precompiled:
    """A Core statement with `bindparam`s, run as its compiled SQL (no IN lists to expand)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Held weakly: a process that makes many engines (tests) does not keep them all.
        self._forms: weakref.WeakKeyDictionary[Dialect, _Form] = weakref.WeakKeyDictionary()

    def execute(
        self, db: Connection | Session, values: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        """One set of values, or several (executemany)."""
        connection = db.connection() if isinstance(db, Session) else db
        dialect = connection.dialect
        form = self._forms.get(dialect)
        if form is None:
            form = self._forms[dialect] = _form(self.statement, dialect)
        if isinstance(values, Mapping):
            return connection.exec_driver_sql(form.sql, form.parameters(values))
        return connection.exec_driver_sql(form.sql, [form.parameters(v) for v in values])
