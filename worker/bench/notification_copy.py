"""The anchor for notification writes: PostgreSQL COPY of the same rows into an identical table.

After a matching run, the notifications it wrote are read back and copied, in
the same batches, into a fresh table with the same columns, defaults,
constraints, indexes and foreign keys.  Both sides start from the row dicts
`write_notifications` takes and neither side's commit is timed, so the ratio
is the cost of the write method alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import Any

import orjson
from sqlalchemy import Engine, select, text

from worker.core.models import Notification

COLUMNS = (
    "subscriber_id",
    "change_id",
    "nct_id",
    "subscription_ids",
    "frequency",
    "created_at",
    "delivery_id",
)
TABLE = "bench_notifications_copy"
_CREATE = (
    f"CREATE TABLE {TABLE} (LIKE notifications INCLUDING ALL)",
    f"ALTER TABLE {TABLE} ADD FOREIGN KEY (subscriber_id) "
    "REFERENCES subscribers (id) ON DELETE CASCADE",
    f"ALTER TABLE {TABLE} ADD FOREIGN KEY (change_id) REFERENCES study_changes (id)",
    f"ALTER TABLE {TABLE} ADD FOREIGN KEY (delivery_id) REFERENCES deliveries (id)",
)


def _written_rows(engine: Engine, after: int, count: int) -> tuple[int, list[dict[str, Any]]]:
    """The next `count` notifications by id, as the dicts write_notifications was given."""
    table = Notification.__table__
    query = (
        select(table.c.id, *(table.c[name] for name in COLUMNS))
        .where(table.c.id > after)
        .order_by(table.c.id)
        .limit(count)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    last = rows[-1].id if rows else after
    return last, [{name: getattr(row, name) for name in COLUMNS} for row in rows]


def copy_seconds(engine: Engine, batch_sizes: Sequence[int]) -> float:
    """Seconds COPY takes for the notifications written, batch by batch, on PostgreSQL."""
    with engine.begin() as connection:
        for statement in _CREATE:
            connection.execute(text(statement))
    raw = engine.raw_connection()
    elapsed = 0.0
    last = 0
    try:
        driver: Any = raw.driver_connection
        statement = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
        for size in batch_sizes:
            last, rows = _written_rows(engine, last, size)
            start = perf_counter()
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(
                        (row["subscriber_id"], row["change_id"], row["nct_id"],
                         orjson.dumps(row["subscription_ids"]).decode(), row["frequency"],
                         row["created_at"], row["delivery_id"])
                    )  # fmt: skip
            elapsed += perf_counter() - start
        driver.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {TABLE}"))
    return elapsed
