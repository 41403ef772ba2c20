"""A per-process cache of criteria: index word → distinct term → criteria grouped by filters.

Criteria rows are insert-only, so the cache only ever grows.  Work per study
is one check per distinct term sharing one of its words (a term that fails
skips all its criteria), then one check per distinct filter set (statuses,
countries and the eligibility filters: everything but near), then the near
criteria of the terms that matched, found from the study's site points.

Which rows to read (the cache must never miss a committed row): ids are not
committed in id order on PostgreSQL, so "above the highest id seen" is not
enough.  The cache keeps a low-water mark `settled`: every criteria row at or
below it that will ever exist is loaded.  Each refresh
1. asks `settled_up_to` (worker/matching/criteria.py) for an id below which
   every writer has ended, or None while one is still in flight;
2. reads every row above `settled`, skipping the ones already loaded above it;
3. only then moves `settled` up to the answer of step 1.
A refresh that fails half-way changes nothing, so the next one reads the same
rows again.  While a writer stays in flight, the rows loaded above `settled`
are read again (and skipped) by each refresh: a few, for the length of an import.

Worker threads read the cache while another refreshes it: a refresh builds
new immutable `TermCandidates` and swaps them in, so a reader sees a term
before or after, never half-updated.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, cast

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from worker.core.models import Criteria
from worker.core.runtime import Runtime
from worker.matching.conditions import (
    Filters,
    StudyConcepts,
    any_site_within,
    filters_pass,
    near_reach,
    site_within,
)
from worker.matching.criteria import settled_up_to

LOAD_CHUNK = 5000  # criteria rows fetched at a time by refresh
GRID_LIMIT = 400  # grid cells a near circle may take; wider ones are checked apart

_COLUMNS = (
    Criteria.id,
    Criteria.words,
    Criteria.match_key,
    Criteria.statuses,
    Criteria.countries,
    Criteria.near_lat,
    Criteria.near_lon,
    Criteria.near_km,
    Criteria.age,
    Criteria.sex,
    Criteria.healthy_volunteers,
    Criteria.phases,
    Criteria.study_types,
)


@dataclass(frozen=True, slots=True)
class NearCriteria:
    """A criteria with a near filter, its bounding box precomputed."""

    lat: float
    lon: float
    km: float
    lat_reach: float
    lon_reach: float
    filter_set: int  # its filters but near: an index into CriteriaIndex.filter_sets
    id: int


Cell = tuple[int, int]  # (floor(lat), floor(lon) mod 360): one degree by one degree


def cell_of(lat: float, lon: float) -> Cell:
    return math.floor(lat), math.floor(lon) % 360


def _cells_of(circle: NearCriteria) -> list[Cell] | None:
    """Every cell the circle's bounding box touches; None when that is more than GRID_LIMIT."""
    slack = 1e-6  # a site on a cell edge is in the cell on either side
    lats = range(
        math.floor(circle.lat - circle.lat_reach - slack),
        math.floor(circle.lat + circle.lat_reach + slack) + 1,
    )
    lons = range(
        math.floor(circle.lon - circle.lon_reach - slack),
        math.floor(circle.lon + circle.lon_reach + slack) + 1,
    )
    if len(lons) >= 360 or len(lats) * len(lons) > GRID_LIMIT:
        return None
    return [(lat, lon % 360) for lat in lats for lon in lons]


@dataclass(frozen=True, slots=True)
class TermCandidates:
    """Every criteria of one normalized term, grouped so each filter set is checked once.

    Near criteria sit in a one-degree grid by the cells their circle can reach
    (`wide` holds the few reaching too many cells), so a study's sites meet
    only the circles around them.
    """

    words: frozenset[str]
    by_filters: Mapping[int, Sequence[int]]  # filter set number → criteria ids
    near: tuple[NearCriteria, ...] = ()
    grid: Mapping[Cell, tuple[NearCriteria, ...]] = field(default_factory=dict)
    wide: tuple[NearCriteria, ...] = ()

    def __len__(self) -> int:
        return sum(map(len, self.by_filters.values())) + len(self.near)

    def extended(self, plain: list[tuple[int, int]], near: list[NearCriteria]) -> TermCandidates:
        """A copy with more criteria: (filter set, id) pairs without a near filter, near ones."""
        by_filters = {number: list(ids) for number, ids in self.by_filters.items()}
        for filter_set, criteria_id in plain:
            by_filters.setdefault(filter_set, []).append(criteria_id)
        if not near:
            return TermCandidates(self.words, by_filters, self.near, self.grid, self.wide)
        circles = self.near + tuple(near)
        grid: dict[Cell, list[NearCriteria]] = {}
        wide = []
        for circle in circles:
            cells = _cells_of(circle)
            if cells is None:
                wide.append(circle)
                continue
            for cell in cells:
                grid.setdefault(cell, []).append(circle)
        frozen = {cell: tuple(found) for cell, found in grid.items()}
        return TermCandidates(self.words, by_filters, circles, frozen, tuple(wide))


_Pending = dict[frozenset[str], tuple[list[tuple[int, int]], list[NearCriteria]]]


class CriteriaIndex:
    def __init__(self) -> None:
        self._by_key: dict[str, dict[frozenset[str], TermCandidates]] = {}
        self._filter_numbers: dict[Filters, int] = {}
        self.filter_sets: list[Filters] = []  # filter set number → its filters (near aside)
        self._settled = 0  # every criteria row at or below this id is loaded
        self._loaded_above: set[int] = set()  # loaded ids above `_settled`
        self._count = 0
        self._lock = threading.Lock()

    def refresh(self, session: Session) -> int:
        """Load the criteria committed since the last refresh; returns how many."""
        with self._lock:
            settled = settled_up_to(session)
            pending: dict[str, _Pending] = {}
            fresh: list[int] = []
            query = (
                select(*_COLUMNS)
                .where(Criteria.id > self._settled)
                .order_by(Criteria.id)
                .execution_options(yield_per=LOAD_CHUNK)
            )
            with session.execute(query) as rows:
                for row in rows:
                    if row.id not in self._loaded_above:
                        self._stage(pending, row)
                        fresh.append(row.id)
            # The whole load is in hand: only now does the cache change.
            for key, terms in pending.items():
                published = dict(self._by_key.get(key, {}))
                for words, (plain, near) in terms.items():
                    current = published.get(words) or TermCandidates(words, {})
                    published[words] = current.extended(plain, near)
                self._by_key[key] = published
            self._count += len(fresh)
            self._loaded_above.update(fresh)
            if settled is not None and settled > self._settled:
                self._settled = settled
                self._loaded_above = {i for i in self._loaded_above if i > settled}
            return len(fresh)

    def _filter_set(self, row: Row[Any]) -> int:
        """The number of the row's filters but near, one per distinct set."""
        filters = Filters(
            statuses=frozenset(row.statuses or ()),
            countries=frozenset(row.countries or ()),
            age=row.age,
            sex=row.sex,
            healthy_volunteers=row.healthy_volunteers,
            phases=frozenset(row.phases or ()),
            study_types=frozenset(row.study_types or ()),
        )
        number = self._filter_numbers.get(filters)
        if number is None:
            number = self._filter_numbers[filters] = len(self.filter_sets)
            self.filter_sets.append(filters)
        return number

    def _stage(self, pending: dict[str, _Pending], row: Row[Any]) -> None:
        words = frozenset(row.words.split())
        plain, near = pending.setdefault(row.match_key, {}).setdefault(words, ([], []))
        filter_set = self._filter_set(row)
        if row.near_lat is None or row.near_lon is None or row.near_km is None:
            plain.append((filter_set, row.id))
            return
        circle = Filters(near=(row.near_lat, row.near_lon, row.near_km)).near  # validated
        lat, lon, km = cast("tuple[float, float, float]", circle)
        lat_reach, lon_reach = near_reach(lat, km)
        near.append(NearCriteria(lat, lon, km, lat_reach, lon_reach, filter_set, row.id))

    def candidates(self, words: frozenset[str]) -> list[TermCandidates]:
        """The distinct terms indexed by one of these words."""
        found: list[TermCandidates] = []
        for word in words:
            terms = self._by_key.get(word)
            if terms:
                found += terms.values()
        return found

    def matching_ids(self, terms: Iterable[TermCandidates], study: StudyConcepts) -> list[int]:
        """Ids of the criteria of these (already matching) terms whose filters the study passes."""
        passed: dict[int, bool] = {}  # filter set number → whether the study passes it
        matched: list[int] = []
        site_cells: dict[Cell, list[tuple[float, float]]] | None = None
        for term in terms:
            for number, ids in term.by_filters.items():
                ok = passed.get(number)
                if ok is None:
                    ok = passed[number] = filters_pass(self.filter_sets[number], study)
                if ok:
                    matched += ids
            if not term.near or not study.points:
                continue
            if site_cells is None:
                site_cells = _site_cells(study.points)
            if len(term.near) <= len(site_cells):
                within = _circles_with_a_site(term.near, study)
            else:
                within = chain(
                    _circles_reached(term.grid, site_cells),
                    _circles_with_a_site(term.wide, study),
                )
            for circle in within:
                ok = passed.get(circle.filter_set)
                if ok is None:
                    ok = passed[circle.filter_set] = filters_pass(
                        self.filter_sets[circle.filter_set], study
                    )
                if ok:
                    matched.append(circle.id)
        return matched

    def __len__(self) -> int:
        return self._count


def _site_cells(points: Iterable[tuple[float, float]]) -> dict[Cell, list[tuple[float, float]]]:
    cells: dict[Cell, list[tuple[float, float]]] = {}
    for point in points:
        cells.setdefault(cell_of(*point), []).append(point)
    return cells


def _circles_reached(
    grid: Mapping[Cell, tuple[NearCriteria, ...]],
    site_cells: Mapping[Cell, list[tuple[float, float]]],
) -> Iterable[NearCriteria]:
    """The grid's circles holding a site, looked up from the cells with sites (each once)."""
    found: dict[int, NearCriteria] = {}
    for cell, points in site_cells.items():
        for circle in grid.get(cell, ()):
            if circle.id not in found and any(site_within(point, circle) for point in points):
                found[circle.id] = circle
    return found.values()


def _circles_with_a_site(
    entries: Sequence[NearCriteria], study: StudyConcepts
) -> Iterable[NearCriteria]:
    """Each circle looks up the sites in its latitude band (few circles, many sites)."""
    return (entry for entry in entries if any_site_within(study, entry))


def criteria_index_of(runtime: Runtime) -> CriteriaIndex:
    """The process's criteria cache, shared by its worker threads."""
    return runtime.part("criteria_index", CriteriaIndex)
