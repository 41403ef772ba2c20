"""Synthetic subscription lists for the console's search, and reading a query's plan.

`load_subscriptions` fills an empty PostgreSQL database in SQL (generate_series:
a million rows in about a minute here); `recorded_statements` and `plan_of`
EXPLAIN a query exactly as a search function ran it.  The admin-search bench
and the search tests share them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event, text

CONDITIONS = (
    "Breast Cancer",
    "Asthma",
    "Head and Neck Cancer",
    "Type 2 Diabetes",
    "Crohn Disease",
    "Melanoma",
    "Non-small Cell Lung Cancer",
    "Hemophilia A",
    "Multiple Sclerosis",
    "Heart Failure",
)


def load_subscriptions(engine: Engine, subscriptions: int) -> None:
    """Subscribers (one per two subscriptions) and condition subscriptions, written in SQL.

    Addresses look like `person123.4f2a…@example17.org`; each condition is one
    of CONDITIONS with a number after it, so prefixes range from common
    ("breast") to rare ("asthma 123").
    """
    people = max(1, subscriptions // 2)
    with engine.begin() as sql:
        sql.execute(
            text(
                "INSERT INTO subscribers (email, link_key, legacy_links, timezone, send_hour,"
                " soft_bounces, created_at)"
                " SELECT 'person' || g || '.' || left(md5(g::text), 8) || '@example'"
                " || (g % 97) || '.org', md5(g::text), false, 'UTC', 8, 0, now()"
                " FROM generate_series(1, :people) AS g"
            ),
            {"people": people},
        )
        sql.execute(
            text(
                "INSERT INTO subscriptions (subscriber_id, identity, kind, condition, frequency,"
                " statuses, countries, active, confirmed, created_at, updated_at)"
                " SELECT s.id, '[\"condition\",' || g || ']', 'condition',"
                " (CAST(:conditions AS text[]))[1 + (g * 7) % :kinds] || ' ' || (g % 1000),"
                " 'daily', '[]', '[]', true, true, now(), now()"
                " FROM generate_series(1, :subscriptions) AS g"
                " JOIN subscribers AS s ON s.id = 1 + (g % :people)"
            ),
            {
                "conditions": list(CONDITIONS),
                "kinds": len(CONDITIONS),
                "subscriptions": subscriptions,
                "people": people,
            },
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as sql:
        sql.execute(text("ANALYZE subscribers, subscriptions"))


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with parameters) run on `engine` meanwhile."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan_of(connection: Connection, statement: str, parameters: Any) -> str:
    """EXPLAIN of a statement as the search ran it (same text, same parameters)."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("EXPLAIN " + statement, parameters)
    return "\n".join(row[0] for row in cursor.fetchall())
