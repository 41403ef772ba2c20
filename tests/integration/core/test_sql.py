"""insert_ignoring_conflicts on both databases: stores and raises as SQLAlchemy's INSERT would."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from tests.conftest import _truncate, make_runtime
from worker.core.models import ReceivedEvent, Study, Subscriber
from worker.core.runtime import Runtime
from worker.core.sql import Utf8Text, insert_ignoring_conflicts, one_of

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
EVENTS = ReceivedEvent.__table__


def _event(event_id: str, **values: Any) -> dict[str, Any]:
    row = {
        "source": "test",
        "event_id": event_id,
        "type": "gov.clinicaltrials.study.updated",
        "nct_id": "NCT00000001",
        "time": NOW,
        "last_update": "2026-05-31",
        "received_at": NOW,
        "payload": "{}",
        "summary": {"title": "Ünïcode", "sites": [{"lat": 45.38, "lon": None}]},
    }
    return {**row, **values}


def test_new_rows_come_back_and_conflicting_ones_are_left_out(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        first = insert_ignoring_conflicts(
            session, EVENTS, [_event("a"), _event("b")], returning=EVENTS.c.id
        )
    with runtime.sessions() as session, session.begin():
        again = insert_ignoring_conflicts(
            session, EVENTS, [_event("b"), _event("c"), _event("c")], returning=EVENTS.c.id
        )
        none_asked = insert_ignoring_conflicts(session, EVENTS, [_event("d"), _event("a")])
    with runtime.sessions() as session:
        stored = dict(session.execute(select(ReceivedEvent.event_id, ReceivedEvent.id)).all())
    assert sorted(row.id for row in first) == [stored["a"], stored["b"]]
    assert [row.id for row in again] == [stored["c"]]
    assert none_asked == [] and sorted(stored) == ["a", "b", "c", "d"]


def test_values_are_stored_as_the_column_types_write_them(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        insert_ignoring_conflicts(session, EVENTS, [_event("json"), _event("null", summary=None)])
    with runtime.sessions() as session:
        rows = {e.event_id: e for e in session.scalars(select(ReceivedEvent))}
        null_text = session.scalar(
            text("SELECT CAST(summary AS TEXT) FROM received_events WHERE event_id = 'null'")
        )
    assert rows["json"].summary == {"title": "Ünïcode", "sites": [{"lat": 45.38, "lon": None}]}
    assert rows["json"].time == NOW and rows["json"].time.tzinfo is UTC
    assert rows["null"].summary is None and null_text == "null", "None is JSON null, not NULL"
    assert {e.outcome for e in rows.values()} == {"pending"}, "a left-out column gets its default"


def test_a_column_whose_default_is_computed_gets_it(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        insert_ignoring_conflicts(
            session, Subscriber.__table__, [{"email": "a@example.org", "created_at": NOW}]
        )
    with runtime.sessions() as session:
        subscriber = session.scalars(select(Subscriber)).one()
    assert len(subscriber.link_key) == 22 and subscriber.timezone == "UTC"


def test_a_naive_instant_is_refused_as_sqlalchemy_refuses_it(runtime: Runtime) -> None:
    with (
        pytest.raises(StatementError, match="naive datetime"),
        runtime.sessions() as session,
        session.begin(),
    ):
        insert_ignoring_conflicts(session, EVENTS, [_event("naive", time=datetime(2026, 6, 1))])


def test_a_broken_constraint_is_sqlalchemys_integrity_error(runtime: Runtime) -> None:
    orphan = {
        "nct_id": "NCT00000001",
        "event_pk": 999,
        "summary": {},
        "updated_at": NOW,
    }
    with pytest.raises(IntegrityError), runtime.sessions() as session, session.begin():
        insert_ignoring_conflicts(session, Study.__table__, [orphan])
    with runtime.sessions() as session:
        assert session.scalars(select(Study)).all() == []


def test_one_of_finds_exactly_the_rows_named(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        ids = insert_ignoring_conflicts(
            session,
            EVENTS,
            [_event("a"), _event("b", nct_id="NCT00000002"), _event("c")],
            returning=EVENTS.c.id,
        )
    a, _, c = sorted(row.id for row in ids)

    def found(column: Any, values: list[Any]) -> list[str]:
        with runtime.sessions() as session:
            query = select(ReceivedEvent.event_id).where(one_of(session, column, values))
            return sorted(session.scalars(query))

    assert found(ReceivedEvent.id, [a, c, 10**12]) == ["a", "c"]
    assert found(ReceivedEvent.id, []) == []
    assert found(ReceivedEvent.nct_id, ["NCT00000002", "nct00000001"]) == ["b"]
    assert found(ReceivedEvent.nct_id, ["NCT000000012", "NCT0000000"]) == [], "never cut to fit"


def test_text_already_in_utf8_is_stored_as_that_text_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    """Utf8Text is bound on PostgreSQL only (SQLite would store the bytes as a BLOB)."""
    _truncate(pg_url)
    runtime = make_runtime(pg_url, tmp_path)
    try:
        _store_utf8_text(runtime)
    finally:
        runtime.close()


def _store_utf8_text(runtime: Runtime) -> None:
    payload = '{"title": "Ünïcode ✓ 😀"}'
    with runtime.sessions() as session, session.begin():
        row = _event("a", payload=Utf8Text(payload.encode()))
        insert_ignoring_conflicts(session, EVENTS, [row])
        insert_ignoring_conflicts(  # a computed default: SQLAlchemy's statement, same binding
            session,
            Subscriber.__table__,
            [{"email": Utf8Text("é@example.org".encode()), "created_at": NOW}],
        )
    with runtime.sessions() as session:
        assert session.scalar(select(ReceivedEvent.payload)) == payload
        assert session.scalar(select(Subscriber.email)) == "é@example.org"
