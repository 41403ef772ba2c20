"""Publish → ingest on real databases (SQLite file and PostgreSQL), in-process broker."""

from __future__ import annotations

import io
import json

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from tests.support import event, real_record_names, record, with_changes
from worker.core.models import DeadLetter, ReceivedEvent, Study, StudyChange
from worker.core.runtime import Runtime
from worker.ingest.deadletters import list_dead_letters
from worker.ingest.studies import summarize
from worker.queue.broker import drain
from worker.queue.pipeline import publish, publish_stream, replay


def _count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _changes(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(StudyChange.nct_id, StudyChange.kind, StudyChange.field).order_by(StudyChange.id)
        )
        return [tuple(row) for row in rows]


def _snapshot_record(runtime: Runtime, nct_id: str) -> dict:
    """The full registry record a study's snapshot points at (its event's `data`)."""
    with runtime.sessions() as session:
        payload = session.scalar(
            select(ReceivedEvent.payload)
            .join(Study, Study.event_pk == ReceivedEvent.id)
            .where(Study.nct_id == nct_id)
        )
    assert payload is not None
    return json.loads(payload)["data"]


def _all_real_events(prefix: str = "evt") -> list[dict]:
    return [event(record(name), f"{prefix}-{name}") for name in real_record_names()]


def test_publishing_real_records_creates_snapshots_and_new_study_changes(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    report = publish(_all_real_events())
    assert (report.accepted, report.duplicates, report.rejections) == (7, 0, [])
    drain(stub_broker)
    assert _count(runtime, Study) == 7
    assert [kind for _, kind, _ in _changes(runtime)] == ["new_study"] * 7
    with runtime.sessions() as session:
        outcomes = set(session.scalars(select(ReceivedEvent.outcome)))
    assert outcomes == {"applied"}
    assert _snapshot_record(runtime, "NCT02513394") == record("NCT02513394")


def test_publishing_the_same_file_twice_changes_nothing_the_second_time(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    lines = [json.dumps(e) for e in _all_real_events()] + ["{oops", json.dumps({"id": "x"})]
    payload = ("\n".join(lines) + "\n").encode()
    first = publish_stream(io.BytesIO(payload), "file events.jsonl")
    drain(stub_broker)
    before = (_count(runtime, ReceivedEvent), _changes(runtime), _count(runtime, DeadLetter))
    second = publish_stream(io.BytesIO(payload), "file events.jsonl")
    drain(stub_broker)
    assert (first.accepted, len(first.rejections)) == (7, 2)
    assert (second.accepted, second.duplicates, len(second.rejections)) == (0, 7, 2)
    assert (
        _count(runtime, ReceivedEvent),
        _changes(runtime),
        _count(runtime, DeadLetter),
    ) == before


def test_updates_are_diffed_and_stale_events_change_nothing(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    original = record("NCT03475563")
    publish(event(original, "v1", time="2026-06-01T00:00:00Z"))
    newer = with_changes(original, overallStatus="COMPLETED", lastUpdateSubmitDate="2026-06-10")
    publish(event(newer, "v2", time="2026-06-11T00:00:00Z"))
    drain(stub_broker)
    stale = with_changes(original, overallStatus="WITHDRAWN", lastUpdateSubmitDate="2026-06-05")
    publish(event(stale, "v0", time="2026-06-12T00:00:00Z"))
    drain(stub_broker)
    assert _changes(runtime) == [
        ("NCT03475563", "new_study", None),
        ("NCT03475563", "status", "overallStatus"),
    ]
    with runtime.sessions() as session:
        study = session.get(Study, "NCT03475563")
        stale_outcome = session.scalar(
            select(ReceivedEvent.outcome).where(ReceivedEvent.event_id == "v0")
        )
    assert study.summary["status"] == "COMPLETED" and stale_outcome == "stale"


def test_out_of_order_events_in_one_batch_end_on_the_newest(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    original = record("NCT00973089")
    newer = with_changes(original, overallStatus="COMPLETED", lastUpdateSubmitDate="2026-01-01")
    publish(
        [
            event(newer, "b", time="2026-02-01T00:00:00Z"),
            event(original, "a", time="2026-01-01T00:00:00Z"),
        ]
    )
    drain(stub_broker)
    with runtime.sessions() as session:
        assert session.get(Study, "NCT00973089").summary["status"] == "COMPLETED"


def test_a_removed_event_marks_the_study_removed(runtime: Runtime, stub_broker: StubBroker) -> None:
    publish(event(record("NCT00973089"), "c1", time="2026-01-01T00:00:00Z"))
    publish(
        event(
            None,
            "r1",
            type="gov.clinicaltrials.study.removed",
            subject="NCT00973089",
            time="2026-02-01T00:00:00Z",
        )
    )
    drain(stub_broker)
    assert [kind for _, kind, _ in _changes(runtime)] == ["new_study", "removed"]
    with runtime.sessions() as session:
        study = session.get(Study, "NCT00973089")
    assert study.removed and _snapshot_record(runtime, "NCT00973089") == record("NCT00973089")


def test_a_study_holds_the_summary_of_its_snapshot_event_through_update_and_removal(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    original = record("NCT03475563")
    newer = with_changes(original, overallStatus="COMPLETED", lastUpdateSubmitDate="2026-06-10")
    later = with_changes(original, overallStatus="RECRUITING", lastUpdateSubmitDate="2026-07-01")
    removal = event(
        None,
        "r",
        type="gov.clinicaltrials.study.removed",
        subject="NCT03475563",
        time="2026-06-20T00:00:00Z",
    )

    def study() -> tuple[str | None, dict, bool]:
        with runtime.sessions() as session:
            row = session.get(Study, "NCT03475563")
            event_id = session.scalar(
                select(ReceivedEvent.event_id).where(ReceivedEvent.id == row.event_pk)
            )
            return event_id, row.summary, row.removed

    publish(
        [
            event(original, "v1", time="2026-06-01T00:00:00Z"),
            event(newer, "v2", time="2026-06-11T00:00:00Z"),
        ]
    )
    drain(stub_broker)
    assert study() == ("v2", summarize(newer), False)
    publish(removal)
    drain(stub_broker)
    assert study() == ("v2", summarize(newer), True)
    publish(event(later, "v3", time="2026-07-02T00:00:00Z"))
    drain(stub_broker)
    assert study() == ("v3", summarize(later), False)


def test_bad_events_are_dead_lettered_and_the_rest_of_the_batch_proceeds(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    no_nct = record("NCT00973089")
    del no_nct["protocolSection"]["identificationModule"]["nctId"]
    text = "\n".join(
        [
            json.dumps(event(record("NCT02210780"), "ok-1")),
            json.dumps(event(no_nct, "bad-1")),
            "not json at all",
            json.dumps(event(record("NCT06171568"), "ok-2")),
        ]
    )
    report = publish_stream(io.BytesIO(text.encode()), "file mixed.jsonl")
    drain(stub_broker)
    assert report.accepted == 2
    assert [(r.line, r.event_id) for r in report.rejections] == [(2, "bad-1"), (3, None)]
    with runtime.sessions() as session:
        letters = list_dead_letters(session)
    assert [(d.line, d.event_id, d.origin) for d in letters] == [
        (2, "bad-1", "file mixed.jsonl"),
        (3, None, "file mixed.jsonl"),
    ]
    assert "nctId" in letters[0].reason and letters[1].payload == "not json at all"
    assert _count(runtime, Study) == 2


def test_replaying_a_fixed_dead_letter_ingests_it(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    publish_stream(io.BytesIO(b'{"specversion": "1.0", "id": "late"}\n'), "stdin")
    with runtime.sessions() as session, session.begin():
        letter = list_dead_letters(session)[0]
        letter.payload = json.dumps(event(record("NCT00973089"), "late"))
    accepted, still_bad = replay(letter.id)
    drain(stub_broker)
    assert (accepted, still_bad) == (1, [])
    assert _count(runtime, Study) == 1
    with runtime.sessions() as session:
        assert list_dead_letters(session) == []
        assert len(list_dead_letters(session, include_replayed=True)) == 1
    assert replay() == (0, [])


def test_ingest_runs_twice_for_the_same_ids_without_duplicating(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    from worker.queue.pipeline import ingest_batch

    publish(_all_real_events())
    with runtime.sessions() as session:
        ids = list(session.scalars(select(ReceivedEvent.id)))
    ingest_batch(ids)
    ingest_batch(ids)
    drain(stub_broker)
    assert len(_changes(runtime)) == 7
