"""Bulk statements that differ by dialect (PostgreSQL in production, SQLite embedded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.abc import AdaptContext
from psycopg.adapt import Buffer, Dumper
from psycopg.rows import namedtuple_row
from sqlalchemy import String, Table, Text, any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Any = None
) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING for many rows in one round trip; returns inserted rows.

    Every row names the same columns.  `returning` is one column (an id, a
    text): each inserted row comes back with it as an attribute (`row.id`).
    """
    if not rows:
        return []
    if is_postgresql(session):
        driver: Any = session.connection().connection.driver_connection
        driver.adapters.register_dumper(Utf8Text, _Utf8TextDumper)
        defaults = _scalar_defaults(table, rows[0])
        if defaults is not None:
            return _insert_with_psycopg(session, table, rows, defaults, returning)
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing()
    if returning is None:
        session.execute(statement, rows)
        return []
    return list(session.execute(statement.returning(returning), rows))


def storable_text(text: str) -> str:
    """`text` as a text column can hold it on PostgreSQL: NUL, which it cannot, as U+FFFD."""
    return text.replace("\x00", "\ufffd")


class Utf8Text(bytes):
    """Valid UTF-8 text bound as text on PostgreSQL, sent as it is.

    A str is encoded to UTF-8 again on its way to the server: for an event
    line publish has just decoded, that took half of psycopg's CPU for the
    row (31 -> 16 us for an event of 27 KB).  For `insert_ignoring_conflicts`
    on PostgreSQL only: SQLite would store these bytes as a BLOB.  A
    connection whose client encoding is not UTF-8 (PGCLIENTENCODING=LATIN1)
    gets the text in its encoding, as it gets a str.
    """


class _Utf8TextDumper(Dumper):
    oid = psycopg.adapters.types["text"].oid

    def __init__(self, cls: type, context: AdaptContext | None = None):
        super().__init__(cls, context)
        encoding = self.connection.info.encoding if self.connection else "utf-8"
        # SQL_ASCII ("ascii"): psycopg sends a str as UTF-8 there, and so do we.
        self._recode = None if encoding in ("utf-8", "ascii") else encoding

    def dump(self, obj: Any) -> Buffer:
        return obj if self._recode is None else obj.decode().encode(self._recode)


def _scalar_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any] | None:
    """The defaults SQLAlchemy would give the columns `row` leaves out; None: one is no value."""
    defaults = {}
    for column in table.columns:
        if column.key in row or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        defaults[column.key] = column.default.arg
    return defaults


def _insert_with_psycopg(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    defaults: dict[str, Any],
    returning: Any,
) -> list[Any]:
    """psycopg's executemany: one short prepared INSERT for every row, in one pipeline.

    SQLAlchemy sends an INSERT … RETURNING as one statement with a placeholder
    per value (5,500 for a batch of 500 received events), which psycopg and
    then the server took longer to parse than to store the rows; without
    RETURNING it adds its own work per row around the same executemany.
    Values go through each column type's bind processor, as SQLAlchemy's own
    statement would send them, and errors come out as SQLAlchemy's.
    """
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    keys = [*rows[0], *defaults]
    processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys]
    statement = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(table.c[key].name) for key in keys)}) "
        f"VALUES ({', '.join(['%s'] * len(keys))}) ON CONFLICT DO NOTHING"
    )
    if returning is not None:
        statement += f" RETURNING {quote(returning.name)}"
    given, added = list(rows[0]), list(defaults.values())

    def processed(row: dict[str, Any]) -> tuple[Any, ...]:
        raw = [row[key] for key in given] + added
        return tuple(v if p is None else p(v) for p, v in zip(processors, raw, strict=True))

    driver: Any = session.connection().connection.driver_connection
    try:
        values = [processed(row) for row in rows]
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.executemany(statement, values, returning=returning is not None)
            if returning is None:
                return []
            inserted = list(cursor.fetchall())
            while cursor.nextset():
                inserted += cursor.fetchall()
    except Exception as error:  # wrapped as SQLAlchemy wraps it: StatementError, IntegrityError…
        raise DBAPIError.instance(statement, rows, error, psycopg.Error, dialect=dialect) from error
    return inserted


def lock_keys(session: Session, namespace: str, keys: Sequence[str]) -> None:
    """Serialize work on the same keys across workers until commit.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two
    batches can never deadlock.  SQLite: writers are serialized by BEGIN IMMEDIATE.
    """
    if not is_postgresql(session) or not keys:
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtext(:ns), hashtext(k)) "
            "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
        ),
        {"ns": namespace, "keys": sorted(set(keys))},
    )


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """The condition `column IN values`; on PostgreSQL `column = ANY(array)`.

    An IN list is a placeholder per value, which SQLAlchemy renders and psycopg
    rewrites at every execution (11 us of CPU an event for ingest's two reads of a
    500-event batch); an array is one parameter (3 us).

    For lookups by key.  A statement psycopg has prepared may be given the
    server's generic plan, made for an array of any length: one that also
    filters on another indexed column can then read far more rows than the
    IN list's plan, which knows how many values there are (unmatched changes
    by study: every change of the studies, not the unmatched ones).
    """
    if not is_postgresql(session):
        return column.in_(values)
    # Text, not VARCHAR(n): a cast to VARCHAR(n)[] would cut a longer value to n and match it.
    element = Text() if isinstance(column.type, String) else column.type
    return column == any_(bindparam(None, list(values), type_=ARRAY(element)))


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_arrays_ignoring_conflicts(
    session: Session, table: Table, columns: dict[str, Sequence[Any]]
) -> None:
    """PostgreSQL: INSERT … SELECT FROM unnest(one array per column) ON CONFLICT DO NOTHING.

    One statement and a handful of parameters however many rows: far cheaper
    than an executemany.  Every array holds one value per row.
    """
    names = list(columns)
    if not names or not columns[names[0]]:
        return
    dialect = session.get_bind().dialect
    casts = ", ".join(
        f"CAST(:a{n} AS {table.c[name].type.compile(dialect=dialect)}[])"
        for n, name in enumerate(names)
    )
    session.execute(
        text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING"
        ),
        {f"a{n}": list(columns[name]) for n, name in enumerate(names)},
    )


def delete_pairs(
    session: Session, table: Table, first: str, second: str, pairs: Sequence[tuple[Any, Any]]
) -> None:
    """Delete the rows whose (first, second) columns are one of the pairs.

    PostgreSQL: one statement over unnest(arrays).  SQLite: one statement per
    value of `second`, naming its `first` values in an IN list.
    """
    if not pairs:
        return
    if is_postgresql(session):
        dialect = session.get_bind().dialect
        types = [table.c[name].type.compile(dialect=dialect) for name in (first, second)]
        session.execute(
            text(
                f"DELETE FROM {table.name} WHERE ({first}, {second}) IN "
                f"(SELECT * FROM unnest(CAST(:a AS {types[0]}[]), CAST(:b AS {types[1]}[])))"
            ),
            {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
        )
        return
    grouped: dict[Any, list[Any]] = {}
    for a, b in pairs:
        grouped.setdefault(b, []).append(a)
    for b, values in grouped.items():
        for start in range(0, len(values), _SQLITE_IN_LIMIT):
            session.execute(
                table.delete().where(
                    table.c[second] == b,
                    table.c[first].in_(values[start : start + _SQLITE_IN_LIMIT]),
                )
            )


_SQLITE_IN_LIMIT = 500
