"""Ingest throughput: real records through publish (validate + store) and ingest (diff).

Every study is published twice, as a new study and then as an update that
changes its status, the way the registry sends them; both go through the
production path (`publish_items` over a JSONL stream, then `ingest_events` in
the batches publish woke up), one process, one batch at a time.  The anchor
is a plain executemany INSERT of the same JSON lines into a bare table on the
same database: storing the bytes with no parsing, validation or diff.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from sqlalchemy import Engine

from worker.bench.corpus import (
    CREATED,
    NEXT_STATUS,
    REALISTIC_MIX,
    SMALL_MIX,
    UPDATED,
    EventTemplate,
    mix_average_kb,
    mix_names,
    nct_id,
)
from worker.bench.databases import throwaway_postgres, throwaway_sqlite
from worker.bench.rows import BenchRow, Target, at_least
from worker.bench.scale import Scale, by_scale
from worker.core.db import make_engine, make_sessionmaker
from worker.ingest.events import read_items
from worker.ingest.publish import chunks, publish_items
from worker.ingest.snapshots import ingest_events

BATCH = 500  # the default TRIALALERTS_INGEST_BATCH_SIZE
CREATED_AT = datetime(2026, 6, 1, 9, tzinfo=UTC)
UPDATED_AT = datetime(2026, 6, 2, 9, tzinfo=UTC)
REALISTIC_PG_TARGET = at_least(2000, "events/s per process")  # PostgreSQL, realistic mix


@dataclass(frozen=True)
class IngestTimes:
    events: int
    publish: float
    ingest: float
    bare_insert: float


def event_lines(mix: Sequence[tuple[str, int]], studies: int) -> list[bytes]:
    """Each study created, then each updated with its next status: 2 × studies JSON lines."""
    names = mix_names(mix, studies)
    templates = {name: EventTemplate.of(name) for name in set(names)}
    lines = []
    for phase, (kind, when, day) in enumerate(
        ((CREATED, CREATED_AT, "2026-06-01"), (UPDATED, UPDATED_AT, "2026-06-02"))
    ):
        for number, name in enumerate(names):
            template = templates[name]
            status = NEXT_STATUS.get(template.status, "RECRUITING") if phase else None
            lines.append(
                template.render(
                    nct=nct_id(number),
                    id=f"bench-{number}-{phase}",
                    type=kind,
                    time=when,
                    last_update=day,
                    status=status,
                )
            )
    return lines


def _bare_insert(engine: Engine, lines: list[bytes]) -> float:
    """Seconds to store the raw lines with executemany, one transaction per batch.

    On PostgreSQL the payload column is compressed as received_events.payload
    is (lz4 where the server has it).  With the default pglz instead,
    compressing took two thirds of the anchor's time: storing the bare lines
    was slower than publish storing the same lines with their summaries.
    """
    postgres = engine.dialect.name == "postgresql"
    key = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    insert = f"INSERT INTO bench_raw_events (payload) VALUES ({'%s' if postgres else '?'})"
    texts = [line.decode() for line in lines]
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE bench_raw_events (id {key}, payload TEXT)")
        if postgres and _payload_compression(connection) == "l":
            connection.exec_driver_sql(
                "ALTER TABLE bench_raw_events ALTER COLUMN payload SET COMPRESSION lz4"
            )
    start = perf_counter()
    for batch in chunks(texts, BATCH):
        with engine.begin() as connection:
            connection.exec_driver_sql(insert, [(text,) for text in batch])
    elapsed = perf_counter() - start
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE bench_raw_events")
    return elapsed


def _payload_compression(connection: Any) -> str:
    """received_events.payload's compression method: 'l' lz4, 'p' pglz, '' the server's default."""
    method = connection.exec_driver_sql(
        "SELECT attcompression FROM pg_attribute "
        "WHERE attrelid = 'received_events'::regclass AND attname = 'payload'"
    ).scalar()
    return str(method or "")


def publish_lines(sessions: Any, lines: Sequence[bytes], now: datetime) -> list[list[int]]:
    """Publish JSON lines as `trialalerts publish` does; the new event ids of each batch."""
    woken: list[list[int]] = []
    stream = io.BytesIO(b"\n".join(lines))
    report = publish_items(sessions, read_items(stream), "bench", lambda: now, woken.append, BATCH)
    if report.accepted != len(lines):
        raise RuntimeError(f"publish accepted {report.accepted} of {len(lines)} events")
    return woken


def ingest_batches(sessions: Any, batches: Sequence[list[int]], now: datetime) -> list[list[int]]:
    """Ingest each batch in its own transaction; the changed event ids of each batch."""
    changed = []
    for ids in batches:
        with sessions() as session, session.begin():
            changed.append(ingest_events(session, ids, now).changed_event_pks)
    return changed


def measure(url: str, lines: list[bytes]) -> IngestTimes:
    """Publish then ingest `lines` on the database at `url` (empty, with the schema)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        start = perf_counter()
        batches = publish_lines(sessions, lines, UPDATED_AT)
        published = perf_counter()
        ingest_batches(sessions, batches, UPDATED_AT)
        ingested = perf_counter()
        bare = _bare_insert(engine, lines)
    finally:
        engine.dispose()
    return IngestTimes(len(lines), published - start, ingested - published, bare)


def _rows(database: str, label: str, times: IngestTimes, target: Target | None) -> list[BenchRow]:
    scenario = f"ingest {database}, {label}"
    anchor = times.events / times.bare_insert
    anchor_name = f"bare INSERT of the same lines ({database})"
    note = f"{times.events} events: each study created, then updated"
    return [
        BenchRow(f"{scenario}: publish", times.events / times.publish, "events/s", anchor,
                 anchor_name, note="validate + summarize + store, from a JSONL stream"),
        BenchRow(f"{scenario}: ingest", times.events / times.ingest, "events/s", anchor,
                 anchor_name, note="diff against the snapshot -> snapshots + changes"),
        BenchRow(f"{scenario}: end to end", times.events / (times.publish + times.ingest),
                 "events/s", anchor, anchor_name, target, note),
    ]  # fmt: skip


def ingest_rows(scale: Scale) -> list[BenchRow]:
    small = by_scale(scale, 20, 1000, 2000)
    mixed = by_scale(scale, 50, 500, 1000)
    rows: list[BenchRow] = []
    for mix, studies, label, pg_target in (
        (SMALL_MIX, small, f"small records ({mix_average_kb(SMALL_MIX):.1f} KB)", None),
        (REALISTIC_MIX, mixed, f"realistic mix ({mix_average_kb(REALISTIC_MIX):.1f} KB average)",
         REALISTIC_PG_TARGET),
    ):  # fmt: skip
        lines = event_lines(mix, studies)
        with throwaway_sqlite() as url:
            rows += _rows("SQLite", label, measure(url, lines), None)
        with throwaway_postgres() as url:
            rows += _rows("PostgreSQL", label, measure(url, lines), pg_target)
    return rows
