"""Which near criteria "a site opened near you" fires for, in one batch of events.

The cheap part of matching decides first: only an event with a site change,
whose matched terms have near criteria that matched the study before, is
looked at further; only its site changes are read from the database, and only
the near criteria around each opened site are tried (worker/matching/nearby.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.models import StudyChange
from worker.core.sql import one_of
from worker.matching.criteria_index import TermCandidates
from worker.matching.nearby import (
    SITE_CHANGE_KINDS,
    Opening,
    SiteNote,
    StudySites,
    opening,
    sites_opened_near,
)


class _Change(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...


C = TypeVar("C", bound=_Change)


def sites_opened(
    session: Session,
    matched: Mapping[int, tuple[list[TermCandidates], list[int]]],
    before: Mapping[int, set[int]],
    by_event: Mapping[int, Sequence[C]],
    sites: Callable[[int], StudySites],
) -> dict[int, list[tuple[int, C, SiteNote]]]:
    """Per event: (criteria id, site change, note) for each opened site within a radius.

    `matched`: each event's matching terms and criteria now; `before`: the
    criteria among them its previous snapshot matched.  A criteria must be in
    both: a study that newly matches gets a new-match notification instead.
    """
    wanted: dict[int, set[int]] = {}
    for event_pk, (terms, ids) in matched.items():
        already = before.get(event_pk)
        if not already or not any(term.near for term in terms):
            continue
        if any(change.kind in SITE_CHANGE_KINDS for change in by_event[event_pk]):
            wanted[event_pk] = already.intersection(ids)
    if not wanted:
        return {}
    changes = {c.id: c for pk in wanted for c in by_event[pk] if c.kind in SITE_CHANGE_KINDS}
    openings: dict[int, list[Opening]] = defaultdict(list)
    rows = session.execute(
        select(
            StudyChange.id,
            StudyChange.event_pk,
            StudyChange.kind,
            StudyChange.field,
            StudyChange.before,
            StudyChange.after,
        ).where(one_of(session, StudyChange.id, sorted(changes)))
    )
    for row in rows:
        why = opening(row.kind, row.before, row.after)
        if why is not None:
            openings[row.event_pk].append((row.id, why, row.field))
    fired: dict[int, list[tuple[int, C, SiteNote]]] = {}
    for event_pk, found in openings.items():
        near = sites_opened_near(matched[event_pk][0], wanted[event_pk], found, sites(event_pk))
        if near:
            fired[event_pk] = [(criteria_id, changes[cid], note) for criteria_id, cid, note in near]
    return fired
