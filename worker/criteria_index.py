"""A per-process cache of criteria by index word.

Criteria rows are insert-only, so the cache only ever grows: each refresh
reads the rows with an id above the highest one seen.  Work per study is the
candidates sharing one of its words, whatever the number of subscriptions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.matching import Filters
from worker.models import Criteria


@dataclass(frozen=True, slots=True)
class CriteriaEntry:
    id: int
    words: frozenset[str]
    filters: Filters


def entry_of(row: Criteria) -> CriteriaEntry:
    near = (
        (row.near_lat, row.near_lon, row.near_km)
        if row.near_lat is not None and row.near_lon is not None and row.near_km is not None
        else None
    )
    filters = Filters(
        statuses=frozenset(row.statuses or ()), countries=frozenset(row.countries or ()), near=near
    )
    return CriteriaEntry(row.id, frozenset(row.words.split()), filters)


class CriteriaIndex:
    def __init__(self) -> None:
        self._by_key: dict[str, list[CriteriaEntry]] = {}
        self._max_id = 0
        self._lock = threading.Lock()

    def refresh(self, session: Session) -> int:
        """Load criteria added since the last refresh; returns how many."""
        with self._lock:
            rows = session.scalars(
                select(Criteria).where(Criteria.id > self._max_id).order_by(Criteria.id)
            ).all()
            for row in rows:
                self._by_key.setdefault(row.match_key, []).append(entry_of(row))
                self._max_id = row.id
            return len(rows)

    def candidates(self, words: frozenset[str]) -> list[CriteriaEntry]:
        found: list[CriteriaEntry] = []
        for word in words:
            found += self._by_key.get(word, ())
        return found

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_key.values())
