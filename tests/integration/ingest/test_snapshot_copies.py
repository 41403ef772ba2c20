"""A study's snapshot, copied in the database from its event's row, is the one ingest decided.

Ingest decides in Python (`apply_event`) and the database copies the
winning event's summary from received_events.  Whatever the events (updates
newer and older, removals, a study removed and back), however they are cut
into batches and in whatever order the batches run, and with two ingests of
one study at once, each study row must hold what `apply_event` decided from
the summaries the events were published with: the same summary, event,
title, status and dates.  On SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.support import event, record, with_changes
from worker.core.models import ReceivedEvent, Study
from worker.core.runtime import Runtime
from worker.ingest.deadletters import list_dead_letters
from worker.ingest.snapshots import REMOVED, IncomingEvent, StudyState, apply_event, ingest_events
from worker.ingest.studies import summarize
from worker.queue.broker import drain
from worker.queue.pipeline import ingest_batch, publish, publish_stream, replay

STUDIES = ["NCT00973089", "NCT03475563", "NCT02210780"]
DATES = ["2026-01-05", "2026-02-10", "2026-03-15", "2026-04-20"]
TIMES = ["2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", "2026-05-03T00:00:00Z"]


@dataclass(frozen=True)
class Sent:
    event_id: str
    nct_id: str
    type: str
    time: str
    summary: dict[str, Any] | None


def _draw_events(rng: random.Random, count: int) -> tuple[list[dict[str, Any]], list[Sent]]:
    events, sent = [], []
    for number in range(count):
        nct_id = rng.choice(STUDIES)
        at = rng.choice(TIMES)
        event_id = f"e{number}"
        data = with_changes(
            record(nct_id),
            overallStatus=rng.choice(["RECRUITING", "RECRUITING", "COMPLETED"]),
            lastUpdateSubmitDate=rng.choice(DATES),
        )
        if rng.random() < 0.3:  # otherwise mostly unchanged for matching, another date
            data["protocolSection"]["identificationModule"]["briefTitle"] = f"Title {number}"
        if rng.random() < 0.2:  # a removal, with the record it removes or without
            carried = data if rng.random() < 0.5 else None
            events.append(event(carried, event_id, type=REMOVED, subject=nct_id, time=at))
            sent.append(Sent(event_id, nct_id, REMOVED, at, carried and summarize(carried)))
            continue
        events.append(event(data, event_id, time=at))
        sent.append(Sent(event_id, nct_id, "gov.clinicaltrials.study.updated", at, summarize(data)))
    return events, sent


def _incoming(pk: int, sent: Sent) -> IncomingEvent:
    at = datetime.fromisoformat(sent.time.replace("Z", "+00:00"))
    last_update = sent.summary["last_update"] if sent.summary else None
    return IncomingEvent(pk, sent.type, at, last_update, sent.summary)


def _rows(runtime: Runtime) -> dict[str, tuple[Any, ...]]:
    with runtime.sessions() as session:
        return {
            row.nct_id: (
                row.summary,
                row.event_pk,
                row.title,
                row.status,
                row.last_update,
                row.event_time,
                row.removed,
            )
            for row in session.scalars(select(Study))
        }


def _expected(states: dict[str, StudyState | None]) -> dict[str, tuple[Any, ...]]:
    return {
        nct_id: (
            state.summary,
            state.event_pk,
            (state.summary or {}).get("title", ""),
            (state.summary or {}).get("status", ""),
            state.last_update,
            state.event_time,
            state.removed,
        )
        for nct_id, state in states.items()
        if state is not None
    }


def _published(runtime: Runtime, events: list[dict[str, Any]]) -> dict[str, int]:
    assert publish(events).accepted == len(events)
    with runtime.sessions() as session:
        return dict(session.execute(select(ReceivedEvent.event_id, ReceivedEvent.id)).all())


@pytest.mark.parametrize("seed", range(4))
def test_every_snapshot_is_the_summary_apply_event_chose_whatever_the_batches(
    runtime: Runtime, stub_broker: StubBroker, seed: int
) -> None:
    rng = random.Random(seed)
    events, sent = _draw_events(rng, 30)
    pks = _published(runtime, events)
    by_pk = {pks[item.event_id]: item for item in sent}
    ordered = sorted(by_pk)
    cuts = sorted(rng.sample(range(1, len(ordered)), 5))
    batches = [ordered[a:b] for a, b in zip([0, *cuts], [*cuts, len(ordered)], strict=True)]
    rng.shuffle(batches)  # a later batch may run before an earlier one
    states: dict[str, StudyState | None] = {}
    for batch in batches:
        ingest_batch(batch)
        for pk in batch:
            item = by_pk[pk]
            _, states[item.nct_id], _ = apply_event(states.get(item.nct_id), _incoming(pk, item))
        assert _rows(runtime) == _expected(states)


def test_two_ingests_of_one_study_at_once_end_on_what_applying_them_in_turn_decides(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    """The later event's batch takes the study first; the earlier, newer one waits, then wins."""
    original = record("NCT03475563")
    newer = with_changes(original, overallStatus="COMPLETED", lastUpdateSubmitDate="2026-03-01")
    older = with_changes(original, overallStatus="WITHDRAWN", lastUpdateSubmitDate="2026-02-01")
    sent = [
        Sent("first", "NCT03475563", "u", "2026-05-02T00:00:00Z", summarize(newer)),
        Sent("second", "NCT03475563", "u", "2026-05-01T00:00:00Z", summarize(older)),
    ]
    pks = _published(
        runtime,
        [event(newer, "first", time=sent[0].time), event(older, "second", time=sent[1].time)],
    )
    first, second = pks["first"], pks["second"]
    waited: list[float] = []

    def ingest_first() -> None:
        started = time.monotonic()
        ingest_batch([first])
        waited.append(time.monotonic() - started)

    with runtime.sessions() as session, session.begin():
        ingest_events(session, [second], runtime.now())
        other = threading.Thread(target=ingest_first)
        other.start()
        time.sleep(0.5)
        assert other.is_alive()  # waiting for the study (PostgreSQL) or the database (SQLite)
    other.join(timeout=30)
    assert waited and waited[0] >= 0.4
    states: dict[str, StudyState | None] = {}
    _, states["NCT03475563"], _ = apply_event(None, _incoming(second, sent[1]))
    _, states["NCT03475563"], _ = apply_event(states["NCT03475563"], _incoming(first, sent[0]))
    assert _rows(runtime) == _expected(states)
    assert _rows(runtime)["NCT03475563"][:2] == (summarize(newer), first)


@pytest.mark.parametrize(("date", "wins"), [("2026-02-01", False), ("2026-04-01", True)])
def test_a_dead_letter_replayed_after_later_events_is_judged_by_its_date(
    runtime: Runtime, stub_broker: StubBroker, date: str, wins: bool
) -> None:
    original = record("NCT00973089")
    current = with_changes(original, overallStatus="COMPLETED", lastUpdateSubmitDate="2026-03-01")
    late = with_changes(original, overallStatus="WITHDRAWN", lastUpdateSubmitDate=date)
    publish_stream(io.BytesIO(b'{"specversion": "1.0", "id": "late"}\n'), "stdin")
    publish(event(current, "current", time="2026-05-01T00:00:00Z"))
    drain(stub_broker)
    with runtime.sessions() as session, session.begin():
        letter = list_dead_letters(session)[0]
        letter.payload = json.dumps(event(late, "late", time="2026-05-02T00:00:00Z"))
    assert replay(letter.id) == (1, [])
    drain(stub_broker)
    with runtime.sessions() as session:
        pks = dict(session.execute(select(ReceivedEvent.event_id, ReceivedEvent.id)).all())
    summary, event_pk, *_ = _rows(runtime)["NCT00973089"]
    assert (summary, event_pk) == (
        (summarize(late), pks["late"]) if wins else (summarize(current), pks["current"])
    )
