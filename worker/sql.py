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
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
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
    if session.get_bind().dialect.name != "postgresql" or not keys:
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtext(:ns), hashtext(k)) "
            "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
        ),
        {"ns": namespace, "keys": sorted(set(keys))},
    )
