"""A per-process cache of criteria: index word → distinct term → criteria grouped by filters.

Criteria rows are insert-only, so the cache only ever grows.  Work per study
is one check per distinct term sharing one of its words (a term that fails
skips all its criteria), then one look per distinct filter set at the
verdicts of its two parts (statuses and countries; sex, healthy volunteers,
phases and study types), each part judged once per study, then the near
criteria of the terms that matched, found from the study's site points.
An age is personal, so it stays out of the filter sets (which it would split
into one per age): criteria with an age are kept sorted by age within their
filter set, and the study's accepted ages cut a slice of them.

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

import gc
import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Any, cast

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from worker.core.models import Criteria
from worker.core.runtime import Runtime
from worker.matching.conditions import (
    EARTH_RADIUS_KM,
    KM_PER_DEGREE_LATITUDE,
    Filters,
    StudyConcepts,
    filters_pass,
    haversine_from_km,
    near_reach,
)
from worker.matching.criteria import settled_up_to
from worker.matching.eligibility import StudyEligibility, takes_age

LOAD_CHUNK = 5000  # criteria rows fetched at a time by refresh
GRID_LIMIT = 400  # grid cells a near circle may take; wider ones are checked apart
_frozen = threading.Event()  # set once this process froze its heap after a first load

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

# A criteria's filters but near and age, as two part numbers (CriteriaIndex.parts):
# its statuses and countries, and its eligibility filters.
FilterSet = tuple[int, int]


@dataclass(frozen=True, slots=True)
class NearCriteria:
    """A criteria with a near filter, its bounding box precomputed."""

    lat: float
    lon: float
    km: float
    lat_reach: float
    lon_reach: float
    place: int  # its statuses and countries: a part number (CriteriaIndex.parts)
    ask: int  # its eligibility filters but age: a part number
    id: int
    age: int | None = None
    south: float = field(init=False, repr=False, compare=False)  # lat - lat_reach
    north: float = field(init=False, repr=False, compare=False)  # lat + lat_reach
    phi: float = field(init=False, repr=False, compare=False)  # lat in radians
    cos_phi: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "south", self.lat - self.lat_reach)
        object.__setattr__(self, "north", self.lat + self.lat_reach)
        object.__setattr__(self, "phi", math.radians(self.lat))
        object.__setattr__(self, "cos_phi", math.cos(self.phi))

    def covers(self, lat: float, lon: float) -> bool:
        """`site_within` for a site already known to lie in the circle's latitude band."""
        gap = abs(lon - self.lon) % 360
        return (gap if gap <= 180 else 360 - gap) <= self.lon_reach and haversine_from_km(
            self.phi, self.cos_phi, self.lon, lat, lon
        ) <= self.km


# One degree by one degree: floor(lat) * 360 + floor(lon) mod 360 (an int: a cheap key).
Cell = int


def cell_of(lat: float, lon: float) -> Cell:
    return math.floor(lat) * 360 + math.floor(lon) % 360


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
    return [lat * 360 + lon % 360 for lat in lats for lon in lons]


# A circle holds a cell with this much to spare, so that a distance computed
# to any site of it comes out within the radius however it rounds.
_INSIDE_SPARE_KM = 0.01


def _held_cells(circle: NearCriteria) -> set[Cell]:
    """The cells every point of which lies within the circle.

    A cell is held when its four corners are: its farthest point from the
    centre is a corner (along a parallel, distance grows with the longitude
    gap up to the meridian opposite the centre, which a circle kept in the
    grid never reaches: it would hold a pole and be `wide`; along a meridian,
    it grows away from the point nearest the centre up to a maximum at least
    a quarter of the globe away, far beyond any circle the grid keeps).  So,
    row by row, the longitudes within reach at each of the row's two edge
    latitudes form an interval around the centre's (the spherical law of
    cosines solved for the longitude gap), and the held cells are those that
    fit in both: a few trigonometric calls a row, not four distances a cell.
    """
    if 2 * circle.km < KM_PER_DEGREE_LATITUDE or circle.cos_phi <= 0:  # shorter than a cell
        return set()
    reach = (circle.km - _INSIDE_SPARE_KM) / EARTH_RADIUS_KM  # radians
    cos_reach, sin_phi = math.cos(reach), math.sin(circle.phi)
    degrees = math.degrees(reach)

    def half_width(lat: int) -> float:
        """The largest longitude gap (degrees) within reach at this latitude, -1 when none is."""
        phi = math.radians(lat)
        gap = (cos_reach - sin_phi * math.sin(phi)) / (circle.cos_phi * math.cos(phi))
        return -1.0 if gap > 1 else math.degrees(math.acos(max(-1.0, gap)))

    held: set[Cell] = set()
    # Rows with a corner at a pole are left out: a circle holding a pole is `wide`.
    for south in range(
        max(-89, math.ceil(circle.lat - degrees)), min(89, math.floor(circle.lat + degrees))
    ):
        width = min(half_width(south), half_width(south + 1))
        for west in range(math.ceil(circle.lon - width), math.floor(circle.lon + width)):
            held.add(south * 360 + west % 360)
    return held


@dataclass(frozen=True, slots=True)
class TermCandidates:
    """Every criteria of one normalized term, grouped so each filter set is checked once.

    Near criteria sit in a one-degree grid by the cells their circle can reach
    (`wide` holds the few reaching too many cells), so a study's sites meet
    only the circles around them: `inside` by the cells a circle holds whole
    (any site there is within it), `grid` by the cells its edge crosses.  Every
    cell a circle reaches is a key of `grid`, so that a study none of the term's
    circles comes near costs one look at its cells.
    """

    words: frozenset[str]
    by_filters: Mapping[FilterSet, Sequence[int]]  # filter set → criteria ids without an age
    near: tuple[NearCriteria, ...] = ()
    grid: Mapping[Cell, tuple[NearCriteria, ...]] = field(default_factory=dict)
    wide: tuple[NearCriteria, ...] = ()
    # filter set → the criteria with an age: (their ages in order, their ids)
    by_age: Mapping[FilterSet, tuple[Sequence[int], Sequence[int]]] = field(default_factory=dict)
    inside: Mapping[Cell, tuple[NearCriteria, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        aged = sum(len(ids) for _, ids in self.by_age.values())
        return sum(map(len, self.by_filters.values())) + aged + len(self.near)

    def around(self, cell: Cell) -> Iterable[NearCriteria]:
        """The circles that may hold a site in this cell."""
        return chain(self.inside.get(cell, ()), self.grid.get(cell, ()), self.wide)

    def extended(self, plain: list[Plain], near: list[NearCriteria]) -> TermCandidates:
        """A copy with more criteria: those without a near filter, and near ones."""
        by_filters = {number: list(ids) for number, ids in self.by_filters.items()}
        aged = {number: list(zip(*pair, strict=True)) for number, pair in self.by_age.items()}
        for filter_set, criteria_id, age in plain:
            if age is None:
                by_filters.setdefault(filter_set, []).append(criteria_id)
            else:
                aged.setdefault(filter_set, []).append((age, criteria_id))
        by_age = {number: _by_age(pairs) for number, pairs in aged.items()}
        if not near:
            return TermCandidates(
                self.words, by_filters, self.near, self.grid, self.wide, by_age, self.inside
            )
        grid = {cell: list(found) for cell, found in self.grid.items()}
        inside = {cell: list(found) for cell, found in self.inside.items()}
        wide = list(self.wide)
        for circle in near:
            cells = _cells_of(circle)
            if cells is None:
                wide.append(circle)
                continue
            held = _held_cells(circle)
            for cell in cells:
                edge = grid.setdefault(cell, [])  # a key for every cell: one look says "none near"
                if cell in held:
                    inside.setdefault(cell, []).append(circle)
                else:
                    edge.append(circle)
        return TermCandidates(
            self.words,
            by_filters,
            self.near + tuple(near),
            {cell: tuple(found) for cell, found in grid.items()},
            tuple(wide),
            by_age,
            {cell: tuple(found) for cell, found in inside.items()},
        )


Plain = tuple[FilterSet, int, int | None]  # (filter set, criteria id, age) of a criteria


def _by_age(pairs: list[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(age, id) pairs as (ages in order, their ids): what a bisection slices."""
    ordered = sorted(pairs)
    return tuple(age for age, _ in ordered), tuple(pk for _, pk in ordered)


_Pending = dict[frozenset[str], tuple[list[Plain], list[NearCriteria]]]


class CriteriaIndex:
    def __init__(self) -> None:
        self._by_key: dict[str, dict[frozenset[str], TermCandidates]] = {}
        # A filter set is a pair of parts (FilterSet): statuses and countries,
        # and the eligibility filters but age.  Each distinct part is judged
        # once per study, so a set costs two lookups.
        self._part_numbers: dict[Filters, int] = {}
        self.parts: list[Filters] = []  # part number → its filters
        self._filter_sets: dict[FilterSet, FilterSet] = {}  # each distinct pair, kept once
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
            if fresh:
                _freeze_once()
            if settled is not None and settled > self._settled:
                self._settled = settled
                self._loaded_above = {i for i in self._loaded_above if i > settled}
            return len(fresh)

    def _filter_set(self, row: Row[Any]) -> FilterSet:
        """The row's filters but near and age, as a pair of part numbers."""
        place = Filters(
            statuses=frozenset(row.statuses or ()), countries=frozenset(row.countries or ())
        )
        ask = Filters(
            sex=row.sex,
            healthy_volunteers=row.healthy_volunteers,
            phases=frozenset(row.phases or ()),
            study_types=frozenset(row.study_types or ()),
        )
        pair = (self._part(place), self._part(ask))
        return self._filter_sets.setdefault(pair, pair)

    def _part(self, filters: Filters) -> int:
        number = self._part_numbers.get(filters)
        if number is None:
            number = self._part_numbers[filters] = len(self.parts)
            self.parts.append(filters)
        return number

    def _stage(self, pending: dict[str, _Pending], row: Row[Any]) -> None:
        words = frozenset(row.words.split())
        plain, near = pending.setdefault(row.match_key, {}).setdefault(words, ([], []))
        filter_set = self._filter_set(row)
        if row.near_lat is None or row.near_lon is None or row.near_km is None:
            plain.append((filter_set, row.id, row.age))
            return
        circle = Filters(near=(row.near_lat, row.near_lon, row.near_km)).near  # validated
        lat, lon, km = cast("tuple[float, float, float]", circle)
        lat_reach, lon_reach = near_reach(lat, km)
        place, ask = filter_set
        near.append(NearCriteria(lat, lon, km, lat_reach, lon_reach, place, ask, row.id, row.age))

    def candidates(self, words: frozenset[str]) -> list[TermCandidates]:
        """The distinct terms indexed by one of these words."""
        found: list[TermCandidates] = []
        for word in words:
            terms = self._by_key.get(word)
            if terms:
                found += terms.values()
        return found

    def matching_ids(
        self,
        terms: Iterable[TermCandidates],
        study: StudyConcepts,
        shared: BatchShare | None = None,
    ) -> list[int]:
        """Ids of the criteria of these (already matching) terms whose filters the study passes.

        Each part of the filter sets is judged once per study, and before any
        distance is computed: a near criteria whose other filters fail costs
        two lookups.
        `shared` holds what the batch's other matchings worked out (see `BatchShare`).
        """
        passes = (
            _Verdicts(self.parts, study) if shared is None else shared.verdicts(self.parts, study)
        )
        matched: list[int] = []
        sites: _Sites | None = None
        circles: list[NearCriteria] = []  # to look at one by one, all terms together
        for term in terms:
            for (place, ask), ids in term.by_filters.items():
                if passes[place] and passes[ask]:
                    matched += ids
            for (place, ask), (ages, ids) in term.by_age.items():
                if passes[place] and passes[ask]:  # the ages the study takes cut a slice
                    taken = study.eligibility
                    start, stop = (
                        bisect_left(ages, taken.youngest),
                        bisect_right(ages, taken.oldest),
                    )
                    matched += ids[start:stop]
            if not term.near or not study.points:
                continue
            if sites is None:
                sites = _Sites(study) if shared is None else shared.sites(study)
            if len(term.near) * CELLS_PER_CIRCLE <= len(sites.by_cell):
                circles += term.near
                continue
            circles += term.wide
            if term.grid.keys().isdisjoint(sites.cells):
                continue  # none of the grid's circles comes near the study: most terms
            met = sites.met.get(id(term))
            if met is not None and met[0] is term:
                circles += met[1]
            else:
                matched += _circles_reached(term, sites, passes, study)
        if circles:
            assert sites is not None
            matched += _circles_with_a_site(circles, sites, passes, study)
        return matched

    def __len__(self) -> int:
        return self._count


class _Verdicts(dict[int, bool]):
    """Whether one study passes each part of the filter sets (number → bool), judged on first use.

    A dict, so that the many lookups of judged parts cost no Python call.
    """

    def __init__(self, parts: Sequence[Filters], study: StudyConcepts) -> None:
        super().__init__()
        self.filters = parts
        self.study = study

    def __missing__(self, number: int) -> bool:
        ok = self[number] = filters_pass(self.filters[number], self.study)
        return ok


BAND_SCAN_LIMIT = 8  # sites in a circle's latitude band looked at one by one, at most
# A term's circles are scanned one by one while they are fewer than the
# study's cells over this: a grid lookup per cell costs about a tenth of a
# circle looked at.
CELLS_PER_CIRCLE = 10


class _Sites:
    """One study's site points, sorted by latitude and by one-degree cell.

    For a second matching of the same sites (see `BatchShare`), `found`
    remembers, by criteria id, whether a site lies in that criteria's circle,
    and `met`, by term, the grid circles its sites met that may hold one: those
    found to, and those set aside untried because their other filters failed.
    """

    def __init__(self, study: StudyConcepts) -> None:
        self.points = points = study.points
        self.south, self.north = points[0][0], points[-1][0]
        self.by_cell: dict[Cell, list[tuple[float, float]]] = {}
        for point in points:
            self.by_cell.setdefault(cell_of(*point), []).append(point)
        self.cells = self.by_cell.keys()
        self.found: dict[int, bool] = {}
        self.met: dict[int, tuple[TermCandidates, list[NearCriteria]]] = {}  # id(term) →

    @cached_property
    def latitudes(self) -> list[float]:
        return [point[0] for point in self.points]

    def within(self, circle: NearCriteria) -> bool:
        """Whether a site lies in the circle.

        Looked for among the sites of the circle's latitude band, or, when
        the band holds many (a study with sites across a continent), among
        those of the cells its box covers, if fewer.  (Loops, not any():
        this is the hot path.)
        """
        points = self.points
        south, north = circle.south, circle.north
        if len(points) > BAND_SCAN_LIMIT:
            latitudes = self.latitudes
            start, stop = bisect_left(latitudes, south), bisect_right(latitudes, north)
            if stop - start > BAND_SCAN_LIMIT:
                cells = _cells_of(circle)
                if cells is not None and len(cells) < stop - start:
                    by_cell = self.by_cell
                    for cell in cells:
                        for lat, lon in by_cell.get(cell, ()):
                            if south <= lat <= north and circle.covers(lat, lon):
                                return True
                    return False
            for lat, lon in points[start:stop]:  # noqa: SIM110 - a loop is faster here
                if circle.covers(lat, lon):
                    return True
            return False
        for lat, lon in points:  # noqa: SIM110 - a loop is faster here
            if south <= lat <= north and circle.covers(lat, lon):
                return True
        return False


# What the verdicts on the filter parts read of a study: `filters_pass` on a part (a
# Filters with no near) reads its status, its countries and its eligibility, no more.
_Judged = tuple[str, frozenset[str], StudyEligibility]


class BatchShare:
    """What the matchings of one batch share, each worked out once.

    An update and the snapshot before it mostly list the same sites, and
    mostly have the same status, countries and eligibility: matching the
    snapshot (worker/matching/fanout.py, `matched_before`) then finds each
    circle's answer and each filter part's verdict already worked out.  The
    verdicts are shared by every study of the batch alike in what they read.
    """

    def __init__(self) -> None:
        self._by_points: dict[tuple[tuple[float, float], ...], _Sites] = {}
        self._verdicts: dict[_Judged, _Verdicts] = {}

    def sites(self, study: StudyConcepts) -> _Sites:
        found = self._by_points.get(study.points)
        if found is None:
            found = self._by_points[study.points] = _Sites(study)
        return found

    def verdicts(self, parts: Sequence[Filters], study: StudyConcepts) -> _Verdicts:
        key = (study.status, study.countries, study.eligibility)
        found = self._verdicts.get(key)
        if found is None or found.filters is not parts:
            found = self._verdicts[key] = _Verdicts(parts, study)
        return found


def _circles_reached(
    term: TermCandidates, sites: _Sites, passes: Mapping[int, bool], study: StudyConcepts
) -> list[int]:
    """Ids of the grid's circles passing their other filters and holding a site, each once.

    Looked up from the cells with sites: first the circles holding such a
    cell whole (they hold its sites, no distance needed), then those whose
    edge crosses one, each tried on that cell's sites only.  A circle whose
    other filters fail is set aside at its first cell.  A circle tried in
    every cell of the study it covers and found in none holds no site (any
    site within a circle lies in one of its cells).
    """
    grid, inside, by_cell, cells = term.grid, term.inside, sites.by_cell, sites.cells
    known = sites.found
    youngest, oldest = study.eligibility.youngest, study.eligibility.oldest
    decided: set[int] = set()  # found, or failing its other filters
    tried: set[int] = set()  # tried on a cell's sites and not found there
    found: list[int] = []
    met: list[NearCriteria] = []  # found, or untried
    if inside:
        for cell in cells & inside.keys():  # the smaller one is looked through, in C
            for circle in inside[cell]:
                key = circle.id
                if key in decided:
                    continue
                decided.add(key)
                known[key] = True
                age = circle.age
                met.append(circle)
                if (
                    passes[circle.place]
                    and passes[circle.ask]
                    and (age is None or youngest <= age <= oldest)
                ):
                    found.append(key)
    for cell in cells & grid.keys():
        points = by_cell[cell]
        for circle in grid[cell]:
            key = circle.id
            if key in decided:
                continue
            age = circle.age
            if (
                not passes[circle.place]
                or not passes[circle.ask]
                or (age is not None and not youngest <= age <= oldest)
            ):
                decided.add(key)
                if known.get(key) is not False:
                    met.append(circle)
                continue
            holds = known.get(key)
            if holds is None:
                south, north = circle.south, circle.north
                for lat, lon in points:
                    if south <= lat <= north and circle.covers(lat, lon):
                        holds = known[key] = True
                        break
                else:
                    tried.add(key)
                    continue
            decided.add(key)
            if holds:
                found.append(key)
                met.append(circle)
    for key in tried - decided:
        known[key] = False
    sites.met[id(term)] = term, met
    return found


def _circles_with_a_site(
    circles: Sequence[NearCriteria],
    sites: _Sites,
    passes: Mapping[int, bool],
    study: StudyConcepts,
) -> list[int]:
    """Ids of the circles passing their other filters with a site (few circles, many sites).

    Cheapest first: a circle wholly north or south of the study's sites is set
    aside before its other filters are looked up, and those before any distance.
    """
    found = []
    south, north = sites.south, sites.north
    known = sites.found
    for circle in circles:
        if circle.south > north or circle.north < south:
            continue
        if not passes[circle.place] or not passes[circle.ask]:
            continue
        age = circle.age
        if age is not None and not takes_age(study.eligibility, age):
            continue
        holds = known.get(circle.id)
        if holds is None:
            holds = known[circle.id] = sites.within(circle)
        if holds:
            found.append(circle.id)
    return found


def _freeze_once() -> None:
    """After the process's first criteria load, keep what it holds out of full collections.

    The cache and the imported modules are most of a matching process's
    objects, and they live as long as it does.  Left to the garbage collector,
    each full collection scans them all again, and matching triggers one every
    few hundred events (each summary it decodes is many new objects), at a
    cost that grows with the cache (about 40 ms a collection at 10k
    subscriptions, several per thousand events).  Frozen,
    they are still freed when no longer referenced; only a reference cycle
    among objects alive at the freeze would never be collected, so it happens
    once per process, not at every refresh.
    """
    if not _frozen.is_set():
        _frozen.set()
        gc.freeze()


def criteria_index_of(runtime: Runtime) -> CriteriaIndex:
    """The process's criteria cache, shared by its worker threads."""
    return runtime.part("criteria_index", CriteriaIndex)
