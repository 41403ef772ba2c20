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
from worker.core.models import ReceivedEvent
from worker.ingest.events import read_items
from worker.ingest.publish import publish_items

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
