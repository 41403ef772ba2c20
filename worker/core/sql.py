"""Bulk statements that differ by dialect (PostgreSQL in production, SQLite embedded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Any = None
) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING for many rows in one round trip; returns inserted rows."""
    if not rows:
        return []
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing()
    if returning is None:
        session.execute(statement, rows)
        return []
    return list(session.execute(statement.returning(returning), rows))


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
