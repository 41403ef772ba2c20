"""Fan-out: classified study changes → pending notifications per subscriber.

Condition subscriptions fire when a study *newly* matches their criteria
(the criteria_matches row is the memory of "already matched"); study follows
fire on every significant change.  Each study's unmatched changes are taken
in event order under the study's lock, so two workers can never disagree on
what was newly matched.  A notification is unique per (subscriber, change).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from worker.criteria_index import CriteriaIndex
from worker.matching import matching_keys, study_concepts
from worker.models import CriteriaMatch, Notification, ReceivedEvent, StudyChange, Subscription
from worker.sql import insert_ignoring_conflicts, lock_keys

# The change a condition alert is attached to when an update makes a study match.
KIND_PRIORITY = (
    "new_study",
    "status",
    "site_added",
    "site_status",
    "conditions",
    "eligibility",
    "dates",
    "enrollment",
    "results_posted",
    "title",
    "site_removed",
    "removed",
)
FREQUENCY_ORDER = {"instant": 0, "daily": 1, "weekly": 2}


@dataclass(frozen=True)
class ChangeRef:
    id: int
    event_pk: int
    nct_id: str
    kind: str


@dataclass
class MatchResult:
    changes: int = 0
    newly_matched: int = 0
    notifications: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def representative(changes: Sequence[ChangeRef]) -> ChangeRef:
    """The most telling change of one event (a new study, else a status change, …)."""
    rank = {kind: position for position, kind in enumerate(KIND_PRIORITY)}
    return min(changes, key=lambda c: (rank.get(c.kind, len(rank)), c.id))


def fastest(frequencies: Iterable[str]) -> str:
    return min(frequencies, key=lambda f: FREQUENCY_ORDER.get(f, 9))


def _unmatched_changes(session: Session, event_pks: Sequence[int]) -> dict[int, list[ChangeRef]]:
    """Every unmatched change of the studies these events touch, grouped by event, in order."""
    nct_ids = sorted(
        set(session.scalars(select(ReceivedEvent.nct_id).where(ReceivedEvent.id.in_(event_pks))))
    )
    if not nct_ids:
        return {}
    lock_keys(session, "study", nct_ids)
    rows = session.execute(
        select(StudyChange.id, StudyChange.event_pk, StudyChange.nct_id, StudyChange.kind)
        .where(StudyChange.nct_id.in_(nct_ids), StudyChange.matched_at.is_(None))
        .order_by(StudyChange.event_pk, StudyChange.id)
    )
    by_event: dict[int, list[ChangeRef]] = defaultdict(list)
    for row in rows:
        by_event[row.event_pk].append(ChangeRef(row.id, row.event_pk, row.nct_id, row.kind))
    return by_event


def match_events(
    session: Session, event_pks: Sequence[int], now: datetime, index: CriteriaIndex
) -> MatchResult:
    """Match the unmatched changes of these events' studies; the caller commits."""
    by_event = _unmatched_changes(session, event_pks)
    if not by_event:
        return MatchResult()
    index.refresh(session)
    nct_ids = sorted({changes[0].nct_id for changes in by_event.values()})
    summaries = {
        pk: summary
        for pk, summary in session.execute(
            select(ReceivedEvent.id, ReceivedEvent.summary).where(ReceivedEvent.id.in_(by_event))
        )
    }
    state: dict[str, set[int]] = defaultdict(set)
    for criteria_id, nct_id in session.execute(
        select(CriteriaMatch.criteria_id, CriteriaMatch.nct_id).where(
            CriteriaMatch.nct_id.in_(nct_ids)
        )
    ):
        state[nct_id].add(criteria_id)
    before = {nct: set(ids) for nct, ids in state.items()}

    fires: list[tuple[int, ChangeRef]] = []  # (criteria id, change) for newly matched criteria
    result = MatchResult()
    for event_pk in sorted(by_event):
        changes = by_event[event_pk]
        nct_id, summary = changes[0].nct_id, summaries.get(event_pk)
        matched: set[int] = set()
        if summary is not None:
            study = study_concepts(summary)
            candidates = index.candidates(study.words)
            matched = set(matching_keys(((c.id, c.words, c.filters) for c in candidates), study))
        newly = matched - state[nct_id]
        state[nct_id] = matched
        if newly:
            change = representative(changes)
            fires += [(criteria_id, change) for criteria_id in newly]
            result.newly_matched += len(newly)
        result.changes += len(changes)

    _write_match_state(session, before, state)
    rows = _notification_rows(session, fires, by_event, now)
    result.rows = rows
    result.notifications = len(rows)
    write_notifications(session, rows)
    all_change_ids = [c.id for changes in by_event.values() for c in changes]
    session.execute(
        update(StudyChange).where(StudyChange.id.in_(all_change_ids)).values(matched_at=now)
    )
    return result


def _write_match_state(
    session: Session, before: dict[str, set[int]], after: dict[str, set[int]]
) -> None:
    added = [
        {"criteria_id": cid, "nct_id": nct}
        for nct, ids in after.items()
        for cid in ids - before.get(nct, set())
    ]
    gone = [(cid, nct) for nct, ids in before.items() for cid in ids - after.get(nct, set())]
    insert_ignoring_conflicts(session, CriteriaMatch.__table__, added)
    if gone:
        session.execute(
            delete(CriteriaMatch).where(
                tuple_(CriteriaMatch.criteria_id, CriteriaMatch.nct_id).in_(gone)
            )
        )


def _notification_rows(
    session: Session,
    fires: list[tuple[int, ChangeRef]],
    by_event: dict[int, list[ChangeRef]],
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per (subscriber, change), naming every subscription that asked for it."""
    wanted: dict[tuple[int, int], tuple[ChangeRef, list[int], list[str]]] = {}

    def want(subscriber_id: int, subscription_id: int, frequency: str, change: ChangeRef) -> None:
        key = (subscriber_id, change.id)
        entry = wanted.setdefault(key, (change, [], []))
        entry[1].append(subscription_id)
        entry[2].append(frequency)

    active = Subscription.active.is_(True) & Subscription.confirmed.is_(True)
    if fires:
        changes_by_criteria: dict[int, list[ChangeRef]] = defaultdict(list)
        for criteria_id, change in fires:
            changes_by_criteria[criteria_id].append(change)
        for sub in session.execute(
            select(
                Subscription.id,
                Subscription.subscriber_id,
                Subscription.criteria_id,
                Subscription.frequency,
            ).where(Subscription.criteria_id.in_(changes_by_criteria), active)
        ):
            for change in changes_by_criteria[sub.criteria_id]:
                want(sub.subscriber_id, sub.id, sub.frequency, change)

    nct_ids = {changes[0].nct_id for changes in by_event.values()}
    follows = session.execute(
        select(
            Subscription.id, Subscription.subscriber_id, Subscription.nct_id, Subscription.frequency
        ).where(Subscription.kind == "study", Subscription.nct_id.in_(nct_ids), active)
    ).all()
    if follows:
        by_nct: dict[str, list[ChangeRef]] = defaultdict(list)
        for changes in by_event.values():
            by_nct[changes[0].nct_id] += changes
        for sub in follows:
            for change in by_nct[sub.nct_id]:
                want(sub.subscriber_id, sub.id, sub.frequency, change)

    return [
        {
            "subscriber_id": subscriber_id,
            "change_id": change.id,
            "nct_id": change.nct_id,
            "subscription_ids": sorted(set(subscription_ids)),
            "frequency": fastest(frequencies),
            "created_at": now,
            "delivery_id": None,
        }
        for (subscriber_id, _), (change, subscription_ids, frequencies) in wanted.items()
    ]


def write_notifications(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk insert; the unique (subscriber, change) constraint makes a replay a no-op."""
    insert_ignoring_conflicts(session, Notification.__table__, rows)
