"""publish_items: items checked as they are read, stored a batch at a time, one wake-up each."""

from __future__ import annotations

import gc
import io
import json
from datetime import UTC, datetime

from sqlalchemy import select

from tests.support import event, record
from worker.core.models import ReceivedEvent
from worker.core.runtime import Runtime
from worker.ingest.events import read_items
from worker.ingest.publish import publish_items

NOW = datetime(2026, 6, 28, 9, tzinfo=UTC)


def _ignore(ids: list[int]) -> None:
    pass


def _lines(count: int, bad_at: int | None = None) -> bytes:
    lines = []
    for number in range(count):
        data = record("NCT00973089")
        data["protocolSection"]["identificationModule"]["nctId"] = f"NCT9000000{number}"
        lines.append("not json" if number == bad_at else json.dumps(event(data, f"e-{number}")))
    return "\n".join(lines).encode()


def test_each_batch_is_stored_and_woken_on_its_own(runtime: Runtime) -> None:
    woken: list[list[int]] = []
    items = read_items(io.BytesIO(_lines(5, bad_at=2)))
    report = publish_items(runtime.sessions, items, "t", lambda: NOW, woken.append, batch_size=2)
    assert (report.accepted, report.duplicates) == (4, 0)
    assert [(r.line, r.reason.startswith("not valid JSON")) for r in report.rejections] == [
        (3, True)
    ]
    assert [len(ids) for ids in woken] == [2, 1, 1]
    with runtime.sessions() as session:
        stored = set(session.scalars(select(ReceivedEvent.id)))
    assert {i for ids in woken for i in ids} == stored and len(stored) == 4


def test_the_cycle_collector_is_left_as_the_caller_had_it(runtime: Runtime) -> None:
    """Publishing pauses the collector while it parses, and gives it back as it found it."""
    publish_items(runtime.sessions, read_items(io.BytesIO(_lines(2))), "t", lambda: NOW, _ignore, 1)
    assert gc.isenabled()
    gc.disable()
    try:
        items = read_items(io.BytesIO(_lines(3)))
        publish_items(runtime.sessions, items, "t", lambda: NOW, _ignore, 1)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_each_event_is_stored_as_the_text_it_came_in(runtime: Runtime) -> None:
    data = record("NCT00973089")
    data["protocolSection"]["identificationModule"]["briefTitle"] = "Étude ✓ 😀"
    lines = [
        json.dumps(event(data, "e-0"), ensure_ascii=False),
        json.dumps(event(data, "e-1"), ensure_ascii=False, indent=None, separators=(",", ":")),
        json.dumps(event(data, "e-2")),
    ]
    items = read_items(io.BytesIO("\n".join(lines).encode()))
    report = publish_items(runtime.sessions, items, "t", lambda: NOW, _ignore)
    assert report.accepted == 3
    with runtime.sessions() as session:
        stored = dict(session.execute(select(ReceivedEvent.event_id, ReceivedEvent.payload)).all())
    assert stored == {f"e-{n}": line for n, line in enumerate(lines)}
