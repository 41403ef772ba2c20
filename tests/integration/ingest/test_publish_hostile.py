"""Publishing what a hostile upstream, a careless operator or a crashing machine hands it.

Each event line is accepted or rejected as the whole parse always did it, and
what is stored is the text that came in, whatever the database connection.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tests.conftest import make_runtime
from tests.support import event, record
from worker.core.models import DeadLetter, ReceivedEvent, Study
from worker.core.runtime import Runtime
from worker.ingest.events import read_items
from worker.ingest.publish import publish_items, replay_dead_letters
from worker.queue.pipeline import ingest_batch

NOW = datetime(2026, 6, 28, 9, tzinfo=UTC)


def _ignore(ids: list[int]) -> None:
    pass


def _line(event_id: str, title: str) -> str:
    data = record("NCT00973089")
    data["protocolSection"]["identificationModule"]["briefTitle"] = title
    return json.dumps(event(data, event_id), ensure_ascii=False)


def test_a_line_is_stored_as_its_text_on_a_connection_whose_encoding_is_not_utf8(
    pg_url: str, tmp_path: Path
) -> None:
    """PGCLIENTENCODING=LATIN1 (or client_encoding in the URL): psycopg encodes text to it.

    The line's own UTF-8 bytes, sent as they are, would be read by the server
    as LATIN1 and stored double-encoded ("é" as "Ã©").
    """
    runtime = make_runtime(f"{pg_url}?client_encoding=LATIN1", tmp_path)
    try:
        with runtime.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE received_events RESTART IDENTITY CASCADE")
        lines = [_line("e-0", "Étude"), _line("e-1", "Étude café, à Zürich")]
        items = read_items(io.BytesIO("\n".join(lines).encode()))
        report = publish_items(runtime.sessions, items, "t", lambda: NOW, _ignore)
        assert (report.accepted, report.rejections) == (2, [])
        with runtime.sessions() as session:
            rows = session.execute(select(ReceivedEvent.event_id, ReceivedEvent.payload)).all()
        assert dict(rows) == {"e-0": lines[0], "e-1": lines[1]}
    finally:
        runtime.close()


def test_a_line_holding_nul_is_a_dead_letter_and_the_rest_of_its_batch_is_stored(
    runtime: Runtime,
) -> None:
    """PostgreSQL text cannot hold NUL: a raw NUL in a line (bad JSON) or a \\u0000 in an
    event id (good JSON) made the batch's insert fail, losing the good events beside it."""
    raw_nul = _line("e-1", "Étude").replace("Étude", "Étu\x00de")
    nul_id = _line("e-2", "Étude").replace('"e-2"', '"e-\\u00002"')
    lines = [_line("e-0", "Étude"), raw_nul, nul_id, _line("e-3", "Étude")]
    items = read_items(io.BytesIO("\n".join(lines).encode()))
    report = publish_items(runtime.sessions, items, "t", lambda: NOW, _ignore)
    assert report.accepted == 2
    assert [rejection.line for rejection in report.rejections] == [2, 3]
    with runtime.sessions() as session:
        stored = session.scalars(select(ReceivedEvent.event_id)).all()
        letters = session.scalars(select(DeadLetter).order_by(DeadLetter.line)).all()
    assert sorted(stored) == ["e-0", "e-3"]
    assert [letter.line for letter in letters] == [2, 3]
    assert letters[0].payload == raw_nul.replace("\x00", "\ufffd")
    assert "NUL" in letters[1].reason


def test_a_dead_letter_kept_with_its_nul_replaced_is_never_replayed_as_if_sent(
    runtime: Runtime,
) -> None:
    """U+FFFD in a JSON string is valid where a raw NUL was not: replaying the kept text
    would accept a line upstream never sent."""
    raw_nul = _line("e-1", "Étude").replace("Étude", "Étu\x00de")
    items = read_items(io.BytesIO(raw_nul.encode()))
    publish_items(runtime.sessions, items, "t", lambda: NOW, _ignore)
    with runtime.sessions() as session, session.begin():
        letters = list(session.scalars(select(DeadLetter)))
        new_ids, still_bad = replay_dead_letters(session, letters, NOW)
    assert new_ids == []
    assert len(still_bad) == 1 and "NUL" in still_bad[0][1]


def test_nul_in_a_record_s_text_reaches_no_column_and_the_study_is_ingested(
    runtime: Runtime,
) -> None:
    """A \\u0000 in a title or a site's city is good JSON: publish stores the line as sent
    (an escape), and the summary, which every later stage stores and prints, reads U+FFFD."""
    data = record("NCT00973089")
    data["protocolSection"]["identificationModule"]["briefTitle"] = "Ét\x00ude"
    line = json.dumps(event(data, "e-0"), ensure_ascii=False)
    items = read_items(io.BytesIO(line.encode()))
    report = publish_items(runtime.sessions, items, "t", lambda: NOW, _ignore)
    assert report.accepted == 1
    with runtime.sessions() as session:
        pks = session.scalars(select(ReceivedEvent.id)).all()
    ingest_batch(list(pks), runtime)
    with runtime.sessions() as session:
        titles = session.scalars(select(Study.title)).all()
    assert titles == ["Ét\ufffdude"]
