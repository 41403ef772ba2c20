"""Dates at the edge of the calendar are rejections like any other, never a lost batch.

Driven through the real entry points (`trialalerts publish`, `POST /events`)
on SQLite and PostgreSQL: the odd event is dead-lettered with its reason and
position, the valid events of the same file or request are stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import select

from tests.conftest import INGEST_TOKEN, make_runtime
from tests.integration.cli.test_cli import trialalerts
from tests.support import event, record, with_changes, write_jsonl
from worker.core.models import DeadLetter, ReceivedEvent
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.runner import run_until_idle
from worker.web.app import create_app

TOKEN = INGEST_TOKEN
EDGE_TIMES = ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00")


def _batch() -> list[dict]:
    """A valid event, the two calendar-edge times, an impossible date, and a valid one."""
    return [
        event(record("NCT04267848"), "ok-1"),
        event(record("NCT02513394"), "edge-late", time=EDGE_TIMES[0]),
        event(record("NCT02210780"), "edge-early", time=EDGE_TIMES[1]),
        event(with_changes(record("NCT00973089"), lastUpdateSubmitDate="9999-99-99"), "bad-day"),
        event(with_changes(record("NCT03475563"), lastUpdateSubmitDate="2012-09"), "ok-partial"),
        event(with_changes(record("NCT06171568"), lastUpdateSubmitDate="2026-06-26\n"), "bad-nl"),
    ]


def _stored(runtime: Runtime) -> tuple[set[str], dict[str, str]]:
    with runtime.sessions() as session:
        accepted = set(session.scalars(select(ReceivedEvent.event_id)))
        letters = {
            event_id: reason
            for event_id, reason in session.execute(select(DeadLetter.event_id, DeadLetter.reason))
        }
    return accepted, letters


def _assert_only_the_odd_ones_rejected(runtime: Runtime) -> None:
    accepted, letters = _stored(runtime)
    assert accepted == {"ok-1", "ok-partial"}
    assert set(letters) == {"edge-late", "edge-early", "bad-day", "bad-nl"}
    assert "outside the calendar" in letters["edge-late"]
    assert "outside the calendar" in letters["edge-early"]
    assert "lastUpdateSubmitDate '9999-99-99' is not a calendar date" in letters["bad-day"]


def test_publish_rejects_calendar_edges_by_line_and_keeps_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", _batch())
    env = {"TRIALALERTS_DATABASE_URL": database_url, "TRIALALERTS_SECRET_KEY": "k" * 32}
    if database_url.startswith("postgresql"):
        assert trialalerts("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    done = trialalerts("publish", str(path), cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "2 accepted, 0 duplicate, 4 rejected" in done.stdout
    assert "line 2 event 'edge-late'" in done.stderr
    assert "line 3 event 'edge-early'" in done.stderr
    assert "line 4 event 'bad-day'" in done.stderr
    runtime = make_runtime(database_url, tmp_path)
    try:
        _assert_only_the_odd_ones_rejected(runtime)
    finally:
        runtime.close()


def test_post_events_rejects_calendar_edges_and_stores_the_rest(ingest_runtime: Runtime) -> None:
    client = create_app(ingest_runtime).test_client()
    answer = client.post(
        "/events",
        data=orjson.dumps(_batch()),
        content_type="application/cloudevents-batch+json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 400
    assert answer.json["accepted"] == 2
    assert [item["index"] for item in answer.json["rejected"]] == [1, 2, 3, 5]
    _assert_only_the_odd_ones_rejected(ingest_runtime)


def test_an_impossible_last_update_cannot_freeze_a_study(ingest_runtime: Runtime) -> None:
    """Before, "9999-99-99" was stored and every later real update was `stale`."""
    data = record("NCT04267848")
    client = create_app(ingest_runtime).test_client()
    frozen = event(with_changes(data, lastUpdateSubmitDate="9999-99-99"), "freeze")
    real = event(with_changes(data, lastUpdateSubmitDate="2026-07-01", overallStatus="COMPLETED"),
                 "real", time="2026-07-01T09:00:00Z")  # fmt: skip
    for body in (frozen, real):
        client.post("/events", data=orjson.dumps(body),
                    content_type="application/cloudevents+json",
                    headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    run_until_idle(ingest_runtime)
    with ingest_runtime.sessions() as session:
        rows = session.execute(select(ReceivedEvent.event_id, ReceivedEvent.outcome)).all()
    outcomes = {event_id: outcome for event_id, outcome in rows}
    assert "freeze" not in outcomes
    assert outcomes["real"] != "stale"


def test_a_far_future_last_update_is_refused_and_cannot_freeze_a_study(
    ingest_runtime: Runtime,
) -> None:
    """9999-12-31 is a real date, but no registry update comes from the future."""
    ingest_runtime.clock = fixed_clock(datetime(2026, 7, 1, 9, 0, tzinfo=UTC))
    data = record("NCT04267848")
    client = create_app(ingest_runtime).test_client()
    future = event(with_changes(data, lastUpdateSubmitDate="9999-12-31"), "future")
    real = event(with_changes(data, lastUpdateSubmitDate="2026-07-01", overallStatus="COMPLETED"),
                 "real", time="2026-07-01T09:00:00Z")  # fmt: skip
    answers = [
        client.post(
            "/events",
            data=orjson.dumps(body),
            content_type="application/cloudevents+json",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )  # fmt: skip
        for body in (future, real)
    ]
    assert [answer.status_code for answer in answers] == [400, 202]
    assert "lies in the future" in answers[0].json["rejected"][0]["reason"]
    run_until_idle(ingest_runtime)
    with ingest_runtime.sessions() as session:
        rows = session.execute(select(ReceivedEvent.event_id, ReceivedEvent.outcome)).all()
    assert {event_id: outcome for event_id, outcome in rows}.keys() == {"real"}
    assert dict(rows)["real"] != "stale"
