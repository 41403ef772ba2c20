"""Ingest: received events → study snapshots + classified changes, a batch at a time.

The decision for one event (`apply_event`) is pure.  `ingest_events` loads a
batch of pending events, locks their studies, applies the events in arrival
order and writes snapshots, changes and outcomes with a few bulk statements.
Running it twice for the same ids changes nothing: only `pending` events are
taken.

A study's snapshots are the summaries of its accepted events (outcome
`applied` or `unchanged`), in id order: each was applied to the one before
it.  `event_summaries` hands matching an event's summary with the id of the
event before it, whose summary is the snapshot the event was compared with,
and whether the event changed what matching reads (`matching_changed`, set
here while both summaries are at hand).
(Ingest takes each batch in id order under the study's lock; only two
batches racing on one study, the later id first, with the earlier one still
newer by lastUpdateSubmitDate, could apply a study's events out of id order.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from worker.core.collector import collector_paused
from worker.core.models import ReceivedEvent, Study, StudyChange
from worker.core.sql import is_postgresql, lock_keys, one_of
from worker.ingest.studies import Change, diff, matching_view_changed

REMOVED = "gov.clinicaltrials.study.removed"
ACCEPTED = ("applied", "unchanged")  # outcomes whose summary became the study's snapshot
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StudyState:
    summary: dict[str, Any] | None
    event_pk: int | None
    last_update: str | None
    event_time: datetime | None
    removed: bool


@dataclass(frozen=True)
class IncomingEvent:
    pk: int
    type: str
    time: datetime | None
    last_update: str | None
    summary: dict[str, Any] | None


def is_stale(state: StudyState | None, event: IncomingEvent) -> bool:
    """Older than the stored snapshot by lastUpdateSubmitDate, then event time."""
    if state is None:
        return False
    event_time, stored_time = event.time or EPOCH, state.event_time or EPOCH
    if event.type == REMOVED or event.last_update is None or state.last_update is None:
        return event_time < stored_time
    return (event.last_update, event_time) < (state.last_update, stored_time)


def apply_event(
    state: StudyState | None, event: IncomingEvent
) -> tuple[str, StudyState | None, list[Change]]:
    """(outcome, new state, changes) for one event against the stored state."""
    if is_stale(state, event):
        return "stale", state, []
    before = None if state is None or state.removed else state.summary
    if event.type == REMOVED:
        if before is None:
            return "unchanged", state, []
        assert state is not None
        removed = replace(state, removed=True, event_time=event.time or state.event_time)
        return "applied", removed, diff(before, None)
    if event.summary is None:
        raise ValueError(f"event {event.pk} of type {event.type} carries no study")
    changes = diff(before, event.summary)
    new_state = StudyState(event.summary, event.pk, event.last_update, event.time, False)
    return ("applied" if changes else "unchanged"), new_state, changes


@dataclass
class IngestResult:
    outcomes: dict[str, int]
    changed_event_pks: list[int]
    change_count: int


def _load_events(session: Session, pks: Sequence[int]) -> list[Any]:
    query = (
        select(
            ReceivedEvent.id,
            ReceivedEvent.nct_id,
            ReceivedEvent.type,
            ReceivedEvent.time,
            ReceivedEvent.last_update,
            ReceivedEvent.summary,
        )
        .where(one_of(session, ReceivedEvent.id, pks), ReceivedEvent.outcome == "pending")
        .order_by(ReceivedEvent.id)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query))


def _load_states(session: Session, nct_ids: Sequence[str]) -> dict[str, StudyState]:
    rows = session.execute(
        select(
            Study.nct_id,
            Study.summary,
            Study.event_pk,
            Study.last_update,
            Study.event_time,
            Study.removed,
        ).where(one_of(session, Study.nct_id, nct_ids))
    )
    return {
        row.nct_id: StudyState(
            row.summary, row.event_pk, row.last_update, row.event_time, row.removed
        )
        for row in rows
    }


def ingest_events(session: Session, pks: Sequence[int], now: datetime) -> IngestResult:
    """Apply a batch of pending received events; the caller commits."""
    with collector_paused():  # the batch's summaries are trees: see worker/core/collector.py
        return _ingest_events(session, pks, now)


def _ingest_events(session: Session, pks: Sequence[int], now: datetime) -> IngestResult:
    rows = _load_events(session, pks)
    if not rows:
        return IngestResult({}, [], 0)
    nct_ids = sorted({row.nct_id for row in rows})
    lock_keys(session, "study", nct_ids)
    stored = _load_states(session, nct_ids)
    states: dict[str, StudyState | None] = dict(stored)
    outcomes: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    changed_pks: list[int] = []
    for row in rows:
        event = IncomingEvent(row.id, row.type, row.time, row.last_update, row.summary)
        prior = states.get(row.nct_id)
        outcome, states[row.nct_id], found = apply_event(prior, event)
        changed = None if outcome == "stale" else _matching_changed(prior, states[row.nct_id])
        outcomes.append({"pk": row.id, "outcome": outcome, "at": now, "matching": changed})
        if found:
            changed_pks.append(row.id)
        changes += [
            {
                "nct_id": row.nct_id,
                "event_pk": row.id,
                "kind": c.kind,
                "field": c.field,
                "before": c.before,
                "after": c.after,
                "created_at": now,
            }
            for c in found
        ]
    _write_states(session, stored, states, now)
    if changes:
        session.execute(StudyChange.__table__.insert(), changes)
    session.execute(
        update(ReceivedEvent.__table__)
        .where(ReceivedEvent.__table__.c.id == bindparam("pk"))
        .values(
            outcome=bindparam("outcome"),
            ingested_at=bindparam("at"),
            matching_changed=bindparam("matching"),
        ),
        outcomes,
    )
    counts: dict[str, int] = {}
    for item in outcomes:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    return IngestResult(counts, changed_pks, len(changes))


def _matching_changed(prior: StudyState | None, state: StudyState | None) -> bool:
    """Whether applying the event changed what condition matching reads of the study."""

    def snapshot(state: StudyState | None) -> dict[str, Any] | None:
        return None if state is None or state.removed else state.summary

    return matching_view_changed(snapshot(prior), snapshot(state))


def _write_states(
    session: Session,
    stored: dict[str, StudyState],
    states: dict[str, StudyState | None],
    now: datetime,
) -> None:
    """Insert new studies and update changed ones: one bulk statement each.

    A snapshot's summary is the summary of its event (`event_pk`), stored in
    received_events at publish: the database copies it from there rather than
    being sent it again (8 KB of JSON a study, serialized here and parsed
    there).  A removal keeps the study's event, and so the summary it has.
    """
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for nct_id, state in states.items():
        if state is None or state is stored.get(nct_id):
            continue
        values = {
            "p_nct_id": nct_id,
            "p_event_pk": state.event_pk,
            "p_title": (state.summary or {}).get("title", ""),
            "p_status": (state.summary or {}).get("status", ""),
            "p_last_update": state.last_update,
            "p_event_time": state.event_time,
            "p_removed": state.removed,
            "p_updated_at": now,
        }
        (updates if nct_id in stored else inserts).append(values)
    table = Study.__table__
    columns = {name: bindparam(f"p_{name}") for name in _SNAPSHOT_COLUMNS}
    event_summary = (
        select(ReceivedEvent.summary)
        .where(ReceivedEvent.id == bindparam("p_event_pk"))
        .scalar_subquery()
    )
    if inserts:
        dialect = postgresql if is_postgresql(session) else sqlite
        statement = dialect.insert(table).values(
            nct_id=bindparam("p_nct_id"), summary=event_summary, **columns
        )
        session.execute(statement.on_conflict_do_nothing(), inserts)
    if updates:
        same_event = table.c.event_pk == bindparam("p_event_pk")
        statement = (
            update(table)
            .where(table.c.nct_id == bindparam("p_nct_id"))
            .values(summary=case((same_event, table.c.summary), else_=event_summary), **columns)
        )
        session.execute(statement, updates)


_SNAPSHOT_COLUMNS = (
    "event_pk",
    "title",
    "status",
    "last_update",
    "event_time",
    "removed",
    "updated_at",
)


@dataclass(frozen=True)
class EventSummary:
    summary: dict[str, Any] | None  # None: the event removed the study
    previous: int | None  # the study's accepted event before this one; None: the first
    matching_changed: bool | None  # see ReceivedEvent.matching_changed


def event_summaries(session: Session, pks: Sequence[int]) -> dict[int, EventSummary]:
    """Each event's summary and the event holding the snapshot before it, in one query."""
    earlier = aliased(ReceivedEvent)
    previous = (
        select(func.max(earlier.id))
        .where(
            earlier.nct_id == ReceivedEvent.nct_id,
            earlier.id < ReceivedEvent.id,
            earlier.outcome.in_(ACCEPTED),
        )
        .correlate(ReceivedEvent)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            ReceivedEvent.id, ReceivedEvent.summary, previous, ReceivedEvent.matching_changed
        ).where(one_of(session, ReceivedEvent.id, pks))
    )
    return {pk: EventSummary(summary, before, changed) for pk, summary, before, changed in rows}


def summaries(session: Session, pks: Sequence[int]) -> dict[int, dict[str, Any] | None]:
    """The summary of each event (None for a removal)."""
    rows = session.execute(
        select(ReceivedEvent.id, ReceivedEvent.summary).where(
            one_of(session, ReceivedEvent.id, pks)
        )
    )
    return {pk: summary for pk, summary in rows}
