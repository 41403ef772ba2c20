"""The pure ingest decision for one event: stale, unchanged, applied."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support import record, with_changes
from worker.ingest.snapshots import REMOVED, IncomingEvent, apply_event
from worker.ingest.studies import summarize

UPDATED = "gov.clinicaltrials.study.updated"
T0 = datetime(2026, 6, 27, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 28, 9, tzinfo=UTC)


def _event(data: dict | None, time: datetime = T0, type: str = UPDATED) -> IncomingEvent:
    summary = summarize(data) if data else None
    return IncomingEvent(1, type, time, summary["last_update"] if summary else None, summary)


def test_a_new_study_is_applied_with_a_new_study_change() -> None:
    outcome, state, changes = apply_event(None, _event(record("NCT00973089")))
    assert outcome == "applied" and [c.kind for c in changes] == ["new_study"]
    assert state is not None and state.last_update == "2015-08-18"


def test_the_same_record_again_is_unchanged() -> None:
    _, state, _ = apply_event(None, _event(record("NCT00973089")))
    outcome, _, changes = apply_event(state, _event(record("NCT00973089"), T1))
    assert (outcome, changes) == ("unchanged", [])


def test_an_event_older_by_last_update_date_is_stale() -> None:
    newer = with_changes(record("NCT03475563"), lastUpdateSubmitDate="2026-01-01")
    _, state, _ = apply_event(None, _event(newer, T0))
    older = with_changes(record("NCT03475563"), overallStatus="COMPLETED")
    outcome, kept, changes = apply_event(state, _event(older, T1))
    assert (outcome, changes, kept) == ("stale", [], state)


def test_same_last_update_date_but_older_event_time_is_stale() -> None:
    _, state, _ = apply_event(None, _event(record("NCT03475563"), T1))
    outcome, _, _ = apply_event(
        state, _event(with_changes(record("NCT03475563"), overallStatus="RECRUITING"), T0)
    )
    assert outcome == "stale"


def test_a_flip_to_unknown_without_a_new_date_applies_when_the_event_is_newer() -> None:
    recruiting = with_changes(record("NCT03475563"), overallStatus="RECRUITING")
    _, state, _ = apply_event(None, _event(recruiting, T0))
    outcome, _, changes = apply_event(state, _event(record("NCT03475563"), T1))
    assert outcome == "applied" and [(c.kind, c.after) for c in changes] == [("status", "UNKNOWN")]


def test_removed_then_published_again_is_a_new_study() -> None:
    _, state, _ = apply_event(None, _event(record("NCT00973089"), T0))
    outcome, removed, changes = apply_event(state, _event(None, T1, REMOVED))
    assert outcome == "applied" and [c.kind for c in changes] == ["removed"] and removed.removed
    later = datetime(2026, 7, 1, tzinfo=UTC)
    outcome, _, changes = apply_event(removed, _event(record("NCT00973089"), later))
    assert [c.kind for c in changes] == ["new_study"]


def test_removing_an_unknown_study_changes_nothing() -> None:
    assert apply_event(None, _event(None, T0, REMOVED))[0] == "unchanged"
