"""Fan-out: classified study changes → pending notifications per subscriber.

Condition subscriptions fire when a study *newly* matches their criteria:
it matches the event's summary and did not match the snapshot before it (the
summary of the study's previous accepted event), or the study is new.  That
is a fact about two summaries and a criteria, so it holds the same for a
criteria made a minute ago as for one made years ago, and however
subscriptions are grouped into criteria; nothing is remembered per criteria
(the criteria_matches table is no longer written).  The previous summary is
read only for an update that matches something and, as ingest recorded,
changed what matching reads; it is matched only against the terms the new
summary matched.  Study follows fire on every
significant change.  Each study's unmatched changes are taken in event order
under the study's lock.  A notification is unique per (subscriber, change).

A `near` subscription also fires when a study it matched before an update and
still matches gains a site within its radius, or a site there starts to
recruit ("a site opened near you", worker/matching/nearby.py).  Its
notifications carry that site, or for a new match the nearest site, with the
distance (`near_site`), for the digest to name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.collector import collector_paused
from worker.core.models import Notification, ReceivedEvent, StudyChange, Subscriber, Subscription
from worker.core.sql import (
    insert_arrays_ignoring_conflicts,
    insert_ignoring_conflicts,
    is_postgresql,
    lock_keys,
    one_of,
)
from worker.ingest.snapshots import EventSummary, event_summaries, summaries
from worker.matching.conditions import StudyConcepts, study_concepts, term_matches
from worker.matching.criteria_index import BatchShare, CriteriaIndex, TermCandidates
from worker.matching.nearby import SiteNote, StudySites, preferred
from worker.matching.opened_sites import sites_opened

# The change a condition alert is attached to when an update makes a study match.
KIND_PRIORITY = (
    "new_study",
    "status",
    "site_added",
    "site_status",
    "conditions",
    "eligibility",
    "design",
    "dates",
    "enrollment",
    "results_posted",
    "title",
    "site_removed",
    "removed",
)
FREQUENCY_ORDER = {frequency: rank for rank, frequency in enumerate(FREQUENCIES)}
# Notification rows made and written at a time: bounds the memory a batch's
# output takes (a popular criteria can have thousands of subscriptions).
ROWS_PER_CHUNK = 20_000
# The subscriptions that hear of their matches, as fan-out counts and reads them.
_HEARING = Subscription.active.is_(True) & Subscription.confirmed.is_(True)


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
    sites_opened: int = 0
    notifications: int = 0


Fire = tuple[int, ChangeRef, SiteNote | None]  # (criteria, change, the site near it if known)


def representative(changes: Sequence[ChangeRef]) -> ChangeRef:
    """The most telling change of one event (a new study, else a status change, …)."""
    rank = {kind: position for position, kind in enumerate(KIND_PRIORITY)}
    return min(changes, key=lambda c: (rank.get(c.kind, len(rank)), c.id))


def fastest(frequencies: Iterable[str]) -> str:
    return min(frequencies, key=lambda f: FREQUENCY_ORDER.get(f, 9))


def _unmatched_changes(session: Session, event_pks: Sequence[int]) -> dict[int, list[ChangeRef]]:
    """Every unmatched change of the studies these events touch, grouped by event, in order."""
    nct_ids = sorted(
        set(
            session.scalars(
                select(ReceivedEvent.nct_id).where(one_of(session, ReceivedEvent.id, event_pks))
            )
        )
    )
    if not nct_ids:
        return {}
    lock_keys(session, "study", nct_ids)
    rows = session.execute(
        select(StudyChange.id, StudyChange.event_pk, StudyChange.nct_id, StudyChange.kind)
        # An IN list, not an array: see worker/core/sql.py, one_of.
        .where(StudyChange.nct_id.in_(nct_ids), StudyChange.matched_at.is_(None))
        .order_by(StudyChange.event_pk, StudyChange.id)
    )
    by_event: dict[int, list[ChangeRef]] = defaultdict(list)
    for row in rows:
        by_event[row.event_pk].append(ChangeRef(row.id, row.event_pk, row.nct_id, row.kind))
    return by_event


def _matches(
    index: CriteriaIndex,
    study: StudyConcepts,
    terms: list[TermCandidates],
    shared: BatchShare | None = None,
) -> tuple[list[TermCandidates], list[int]]:
    """The terms among these that the study matches, and their criteria whose filters it passes.

    Each term is distinct (one per word set), so each is checked once, alone:
    its criteria's filters come after, in the index.
    """
    matching = [term for term in terms if term_matches(term.words, study)]
    return matching, index.matching_ids(matching, study, shared) if matching else []


def matched_before(
    session: Session,
    index: CriteriaIndex,
    events: dict[int, EventSummary],
    matched: dict[int, tuple[list[TermCandidates], list[int]]],
    shared: BatchShare | None = None,
) -> dict[int, set[int]]:
    """For each matched event, which of the criteria it matches its previous snapshot matched.

    Most updates leave what matching reads as it was (a title, a date), and
    ingest says so: then the previous snapshot matched the same criteria.  The
    other previous summaries that are not events of this batch are read in one
    query.  `shared`: what matching the batch's events worked out (a snapshot
    mostly lists the same sites, and reads the same to the filters, as the
    update after it).
    """
    before: dict[int, set[int]] = {}
    previous: dict[int, int] = {}
    for pk, (_, ids) in matched.items():
        event = events[pk]
        if event.previous is not None:
            if event.matching_changed is False:
                before[pk] = set(ids)
            else:
                previous[pk] = event.previous
    wanted = set(previous.values())
    known = {pk: events[pk].summary for pk in wanted if pk in events}
    missing = sorted(wanted - known.keys())
    if missing:
        known.update(summaries(session, missing))
    for pk, previous_pk in previous.items():
        summary = known.get(previous_pk)
        if summary is not None:
            terms = matched[pk][0]
            before[pk] = set(_matches(index, study_concepts(summary), terms, shared)[1])
    return before


def match_events(
    session: Session, event_pks: Sequence[int], now: datetime, index: CriteriaIndex
) -> MatchResult:
    """Match the unmatched changes of these events' studies; the caller commits."""
    with collector_paused():  # the batch's summaries are trees: see worker/core/collector.py
        return _match_events(session, event_pks, now, index)


def _match_events(
    session: Session, event_pks: Sequence[int], now: datetime, index: CriteriaIndex
) -> MatchResult:
    by_event = _unmatched_changes(session, event_pks)
    if not by_event:
        return MatchResult()
    index.refresh(session)
    events = event_summaries(session, list(by_event))
    matched: dict[int, tuple[list[TermCandidates], list[int]]] = {}
    shared = BatchShare()
    for event_pk in sorted(by_event):
        summary = events[event_pk].summary
        if summary is None:
            continue
        study = study_concepts(summary)
        terms, ids = _matches(index, study, index.candidates(study.words), shared)
        if ids:
            matched[event_pk] = terms, ids
    before = matched_before(session, index, events, matched, shared)

    fires: dict[int, list[Fire]] = {}  # event → what it fires
    result = MatchResult(changes=sum(map(len, by_event.values())))
    for event_pk, (_, ids) in matched.items():
        already = before.get(event_pk, set())
        newly = [criteria_id for criteria_id in ids if criteria_id not in already]
        if newly:
            change = representative(by_event[event_pk])
            fires[event_pk] = [(criteria_id, change, None) for criteria_id in newly]
            result.newly_matched += len(newly)

    sites = StudySites.of_events(events)
    for event_pk, opened in sites_opened(session, matched, before, by_event, sites).items():
        fires.setdefault(event_pk, []).extend(opened)
        result.sites_opened += len(opened)

    result.notifications = _fan_out(session, fires, by_event, now, sites)
    all_change_ids = [c.id for changes in by_event.values() for c in changes]
    changes = StudyChange.__table__  # the table, not the entity: no ORM bulk-update work
    session.execute(
        update(changes).where(one_of(session, changes.c.id, all_change_ids)).values(matched_at=now)
    )
    return result


def _fan_out(
    session: Session,
    fires: dict[int, list[Fire]],
    by_event: dict[int, list[ChangeRef]],
    now: datetime,
    sites: Callable[[int], StudySites],
) -> int:
    """Make and write the batch's notifications, about ROWS_PER_CHUNK at a time; returns how many.

    A notification is per (subscriber, change) and a change belongs to one
    event, so a chunk of whole events, or one event's rows for a range of
    subscriber ids, makes exactly the rows the batch would.  A chunk is sized
    from the active subscriptions of the criteria it fires, counted first:
    rows per criteria range from one to tens of thousands, too unevenly to be
    guessed from the rows the previous chunk made.  (Study follows are few per
    study and left out of the count.)
    """
    counts = _subscription_counts(session, {pk for pairs in fires.values() for pk, _, _ in pairs})
    written = size = 0
    chunk_fires: list[Fire] = []
    chunk_events: dict[int, list[ChangeRef]] = {}
    for event_pk in sorted(by_event):
        event_fires = fires.get(event_pk, [])
        event_size = sum(counts.get(criteria_id, 0) for criteria_id, _, _ in event_fires)
        if chunk_events and size + event_size > ROWS_PER_CHUNK:
            written += _write_chunk(session, chunk_fires, chunk_events, now, sites, size)
            chunk_fires, chunk_events, size = [], {}, 0
        chunk_fires += event_fires
        chunk_events[event_pk] = by_event[event_pk]
        size += event_size
    return written + _write_chunk(session, chunk_fires, chunk_events, now, sites, size)


def _subscription_counts(session: Session, criteria_ids: set[int]) -> dict[int, int]:
    """Active subscriptions per criteria: the most rows a fire of it can make."""
    if not criteria_ids:
        return {}
    query = (
        select(Subscription.criteria_id, func.count())
        .where(one_of(session, Subscription.criteria_id, list(criteria_ids)), _HEARING)
        .group_by(Subscription.criteria_id)
    )
    return {criteria_id: count for criteria_id, count in session.execute(query)}


def _write_chunk(
    session: Session,
    fires: list[Fire],
    by_event: dict[int, list[ChangeRef]],
    now: datetime,
    sites: Callable[[int], StudySites],
    size: int,
) -> int:
    """Make and write one chunk's rows, in ranges of subscriber ids when `size` is over a chunk."""
    written = 0
    for subscribers in _subscriber_ranges(session, -(-size // ROWS_PER_CHUNK)):
        rows = _notification_rows(session, fires, by_event, now, sites, subscribers)
        write_notifications(session, rows)
        written += len(rows)
    return written


def _subscriber_ranges(session: Session, parts: int) -> list[range | None]:
    """Subscriber ids cut into this many equal ranges (None: all of them, in one)."""
    if parts <= 1:
        return [None]
    low, high = session.execute(select(func.min(Subscriber.id), func.max(Subscriber.id))).one()
    if low is None:
        return [None]
    step = -(-(high + 1 - low) // parts)
    return [range(start, min(start + step, high + 1)) for start in range(low, high + 1, step)]


def _notification_rows(
    session: Session,
    fires: list[Fire],
    by_event: dict[int, list[ChangeRef]],
    now: datetime,
    sites: Callable[[int], StudySites],
    subscribers: range | None = None,
) -> list[dict[str, Any]]:
    """One row per (subscriber, change), naming every subscription that asked for it.

    A new match of a near subscription notes the study's nearest site within
    its radius.  `subscribers`: only the rows of the subscribers with these ids.
    """
    wanted: dict[tuple[int, int], tuple[ChangeRef, list[int], list[str], list[SiteNote | None]]]
    wanted = {}

    def want(
        subscriber_id: int,
        subscription_id: int,
        frequency: str,
        change: ChangeRef,
        note: SiteNote | None = None,
    ) -> None:
        key = (subscriber_id, change.id)
        entry = wanted.setdefault(key, (change, [], [], [None]))
        entry[1].append(subscription_id)
        entry[2].append(frequency)
        if note is not None:
            entry[3][0] = preferred(entry[3][0], note)

    active = _HEARING
    if subscribers is not None:
        active &= Subscription.subscriber_id.between(subscribers.start, subscribers.stop - 1)
    if fires:
        changes_by_criteria: dict[int, list[tuple[ChangeRef, SiteNote | None]]] = defaultdict(list)
        for criteria_id, change, note in fires:
            changes_by_criteria[criteria_id].append((change, note))
        for sub in session.execute(
            select(
                Subscription.id,
                Subscription.subscriber_id,
                Subscription.criteria_id,
                Subscription.frequency,
                Subscription.near_lat,
                Subscription.near_lon,
                Subscription.near_km,
            ).where(one_of(session, Subscription.criteria_id, list(changes_by_criteria)), active)
        ):
            circle = (sub.near_lat, sub.near_lon, sub.near_km)
            for change, note in changes_by_criteria[sub.criteria_id]:
                if note is None and None not in circle:
                    note = sites(change.event_pk).nearest_note(*circle)
                want(sub.subscriber_id, sub.id, sub.frequency, change, note)

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
            "near_site": note[0],
        }
        for (subscriber_id, _), (change, subscription_ids, frequencies, note) in wanted.items()
    ]


def write_notifications(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk insert; the unique (subscriber, change) constraint makes a replay a no-op.

    PostgreSQL: one INSERT … SELECT FROM unnest(column arrays) per call.
    """
    if not rows:
        return
    if not is_postgresql(session) or any(row["delivery_id"] is not None for row in rows):
        insert_ignoring_conflicts(session, Notification.__table__, rows)
        return
    columns = ("subscriber_id", "change_id", "nct_id", "frequency", "created_at")
    arrays: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in columns}
    arrays["subscription_ids"] = [orjson.dumps(row["subscription_ids"]).decode() for row in rows]
    arrays["near_site"] = [
        None if row.get("near_site") is None else orjson.dumps(row["near_site"]).decode()
        for row in rows
    ]
    insert_arrays_ignoring_conflicts(session, Notification.__table__, arrays)
