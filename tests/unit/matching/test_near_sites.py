"""The fast near-site checks of the criteria cache decide exactly as the plain haversine test.

Matching looks for a study's sites in a near criteria's circle through
precomputed forms (the circle's band and trigonometry, one-degree cells, a
grid of circles by cell, answers shared between two matchings of the same
sites).  Whatever the path, the answer must be the one of checking every
site with `haversine_km(...) <= km`, at the poles, across the antimeridian
and on the radius itself.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.matching.conditions import (
    EARTH_RADIUS_KM,
    Filters,
    StudyConcepts,
    haversine_from_km,
    haversine_km,
    near_reach,
    site_within,
)
from worker.matching.criteria_index import (
    BatchShare,
    CriteriaIndex,
    NearCriteria,
    TermCandidates,
    _cells_of,
    _held_cells,
    _Sites,
    cell_of,
)

# Latitudes and longitudes, with the poles, the antimeridian and cell edges drawn often.
latitudes = st.one_of(
    st.floats(min_value=-90, max_value=90),
    st.sampled_from([-90.0, -89.99, 0.0, 45.0, 89.99, 90.0]),
)
longitudes = st.one_of(
    st.floats(min_value=-180, max_value=180),
    st.sampled_from([-180.0, -179.99, 0.0, 9.0, 179.99, 180.0]),
)
points = st.tuples(latitudes, longitudes)
radii = st.one_of(
    st.floats(min_value=0.001, max_value=25000),
    st.sampled_from([1.0, 25.0, 50.0, 100.0, 250.0, 20000.0]),
)


def _haversine_as_written(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The haversine distance written out in one piece, as matching always computed it."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _circle(centre: tuple[float, float], km: float, criteria_id: int = 1) -> NearCriteria:
    lat, lon = centre
    return NearCriteria(lat, lon, km, *near_reach(lat, km), place=0, ask=0, id=criteria_id)


def _study(sites: list[tuple[float, float]], status: str = "RECRUITING") -> StudyConcepts:
    return StudyConcepts(
        concepts=(frozenset({"melanoma"}),),
        status=status,
        sites=tuple({"lat": lat, "lon": lon} for lat, lon in sites),
    )


def _index(*filters: Filters) -> CriteriaIndex:
    """A criteria cache whose part n is the n-th of these filters (part 0: none by default)."""
    index = CriteriaIndex()
    index.parts.extend(filters or (Filters(),))
    return index


def _brute(circles: list[NearCriteria], sites: list[tuple[float, float]]) -> set[int]:
    return {
        circle.id
        for circle in circles
        if any(haversine_km(circle.lat, circle.lon, *site) <= circle.km for site in sites)
    }


@settings(max_examples=300)
@given(first=points, second=points)
def test_a_distance_from_a_precomputed_centre_is_the_haversine_bit_for_bit(
    first: tuple[float, float], second: tuple[float, float]
) -> None:
    phi = math.radians(first[0])
    expected = _haversine_as_written(*first, *second)
    assert haversine_from_km(phi, math.cos(phi), first[1], *second) == expected
    assert haversine_km(*first, *second) == expected


def _radius_at(centre: tuple[float, float], site: tuple[float, float], nudge: int) -> float:
    """The site's distance from the centre (nudge 0), or the float just below or above it."""
    distance = haversine_km(*centre, *site)
    return distance if nudge == 0 else math.nextafter(distance, math.inf * nudge)


@settings(max_examples=500)
@given(centre=points, site=points, km=radii, nudge=st.sampled_from([-1, 0, 1, None]))
def test_covers_decides_as_site_within_on_the_radius_too(
    centre: tuple[float, float], site: tuple[float, float], km: float, nudge: int | None
) -> None:
    """`covers`, for a site in the circle's latitude band, is `site_within` with its band."""
    km = km if nudge is None else _radius_at(centre, site, nudge)
    if not 0 < km < math.inf:
        return
    circle = _circle(centre, km)
    in_band = circle.south <= site[0] <= circle.north
    assert (in_band and circle.covers(*site)) is site_within(site, circle)


@settings(max_examples=1000)
@given(centre=points, site=points, km=radii, nudge=st.sampled_from([-1, 0, 1, None]))
def test_a_site_is_near_exactly_when_the_haversine_says_so(
    centre: tuple[float, float], site: tuple[float, float], km: float, nudge: int | None
) -> None:
    """The box checked first never refuses a site the distance accepts, on the radius too.

    At the poles (a circle that just reaches one) and between near antipodes,
    where the distance is least exact.
    """
    km = km if nudge is None else _radius_at(centre, site, nudge)
    if not 0 < km < math.inf:
        return
    circle = _circle(centre, km)
    expected = haversine_km(*centre, *site) <= km
    assert site_within(site, circle) is expected
    assert (circle.south <= site[0] <= circle.north and circle.covers(*site)) is expected


def test_the_box_keeps_sites_on_the_radius_at_a_pole_and_across_the_globe() -> None:
    equator, pole = (0.0, 91.0), (90.0, 0.0)  # a quarter of the globe apart
    quarter = haversine_km(*equator, *pole)
    assert site_within(pole, _circle(equator, quarter))
    near_north, near_south = (89.99983673938537, 180.0), (-89.999999, 180.0)
    across = haversine_km(*near_north, *near_south)
    assert site_within(near_south, _circle(near_north, math.nextafter(across, math.inf)))


@settings(max_examples=300)
@given(centre=points, km=radii, sites=st.lists(points, min_size=1, max_size=40))
def test_a_study_finds_a_site_in_a_circle_as_checking_every_site_does(
    centre: tuple[float, float], km: float, sites: list[tuple[float, float]]
) -> None:
    circle = _circle(centre, km)
    assert _Sites(_study(sites)).within(circle) is bool(_brute([circle], sites))


def _near_one_of(centres: list[tuple[float, float]], data: st.DataObject) -> tuple[float, float]:
    """A point within a degree or so of one of the centres (latitude kept, longitude wrapped)."""
    lat, lon = data.draw(st.sampled_from(centres))
    dlat, dlon = data.draw(st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)))
    return min(90.0, max(-90.0, lat + dlat)), (lon + dlon + 180) % 360 - 180


@settings(max_examples=300)
@given(
    circles=st.lists(st.tuples(points, radii, st.booleans()), min_size=1, max_size=40),
    far=st.lists(points, max_size=20),
    close=st.integers(0, 20),
    statuses=st.lists(st.sampled_from(["RECRUITING", "COMPLETED"]), min_size=1, max_size=3),
    data=st.data(),
)
def test_the_criteria_cache_finds_the_circles_checking_every_site_finds(
    circles: list[tuple[tuple[float, float], float, bool]],
    far: list[tuple[float, float]],
    close: int,
    statuses: list[str],
    data: st.DataObject,
) -> None:
    """Through a term's grid (many circles, few cells) or circle by circle (few circles).

    Some circles also ask for recruiting studies; the same sites matched again
    with another status (an update and its previous snapshot, sharing what the
    first matching found) find what checking every site finds for that status.
    """
    centres = [centre for centre, _, _ in circles]
    sites = far + [_near_one_of(centres, data) for _ in range(close)]
    if not sites:
        return
    index = _index(Filters(), Filters(statuses=frozenset({"RECRUITING"})))
    near = [
        NearCriteria(*centre, km, *near_reach(centre[0], km), place=int(asks), ask=0, id=number)
        for number, (centre, km, asks) in enumerate(circles)
    ]
    term = TermCandidates(frozenset({"melanoma"}), {}).extended([], near)
    shared = BatchShare()
    for status in statuses:
        wanted = [c for c in near if c.place == 0 or status == "RECRUITING"]
        for batch in (None, shared):
            found = index.matching_ids([term], _study(sites, status), batch)
            assert sorted(found) == sorted(_brute(wanted, sites))
            assert len(found) == len(set(found))


def test_both_ways_through_the_cache_are_taken_and_agree() -> None:
    """Many circles around a study with one site go through the grid; a few, one by one."""
    milan, rome = (45.4642, 9.19), (41.9028, 12.4964)
    ring = [(milan[0] + dlat / 10, milan[1] + dlon / 10) for dlat in (-9, 0, 9) for dlon in (-5, 5)]
    near = [_circle(centre, 30.0, number) for number, centre in enumerate([*ring, rome])]
    term = TermCandidates(frozenset({"melanoma"}), {}).extended([], near)
    index = _index()
    for sites in ([milan], [milan, rome], [(float(lat), 9.19) for lat in range(-80, 81, 4)]):
        assert sorted(index.matching_ids([term], _study(sites))) == sorted(_brute(near, sites))


def test_a_second_matching_of_the_same_sites_reuses_what_the_first_found() -> None:
    """An update and its previous snapshot: same sites, another status, the same circles found."""
    barcelona, madrid = (41.3874, 2.1686), (40.4168, -3.7038)
    recruiting = Filters(statuses=frozenset({"RECRUITING"}))
    index = _index(Filters(), recruiting)
    near = [
        NearCriteria(*barcelona, 30.0, *near_reach(barcelona[0], 30.0), place=0, ask=0, id=1),
        NearCriteria(*barcelona, 30.0, *near_reach(barcelona[0], 30.0), place=1, ask=0, id=2),
        NearCriteria(*madrid, 50.0, *near_reach(madrid[0], 50.0), place=0, ask=0, id=3),
    ]
    term = TermCandidates(frozenset({"melanoma"}), {}).extended([], near)
    shared = BatchShare()
    sites = [(41.4287, 2.1436), (42.6, -5.57)]  # Vall d'Hebron, León
    now = index.matching_ids([term], _study(sites), shared)
    before = index.matching_ids([term], _study(sites, status="NOT_YET_RECRUITING"), shared)
    assert (sorted(now), sorted(before)) == ([1, 2], [1])
    assert shared.sites(_study(sites)) is shared.sites(_study(list(sites)))
    # Madrid's circle lies wholly south of these sites: set aside without a distance.
    assert shared.sites(_study(sites)).found == {1: True, 2: True}
    elsewhere = index.matching_ids([term], _study([madrid]), shared)
    assert sorted(elsewhere) == [3]


def test_circles_grouped_in_the_grid_are_the_ones_whose_cells_hold_a_site() -> None:
    """Any site within a circle lies in one of the cells the term files the circle under."""
    circle = _circle((0.0, 179.9), 50.0)
    term = TermCandidates(frozenset({"melanoma"}), {}).extended([], [circle])
    fiji = (0.0, -179.9)  # across the antimeridian
    assert circle in term.grid[cell_of(*fiji)]
    assert circle.covers(*fiji)


@settings(max_examples=300)
@given(
    centre=points,
    km=st.one_of(st.floats(min_value=55, max_value=3000), st.sampled_from([55.6, 78.7, 250.0])),
    data=st.data(),
)
def test_a_cell_the_grid_files_as_held_whole_holds_every_point_of_it(
    centre: tuple[float, float], km: float, data: st.DataObject
) -> None:
    """Any point of such a cell, its corners and edges too, is within the radius."""
    circle = _circle(centre, km)
    cells = _cells_of(circle)
    held = sorted(_held_cells(circle) & set(cells or ()))
    if not held:
        return
    south, west = divmod(data.draw(st.sampled_from(held)), 360)
    lat = south + data.draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0])))
    lon = west + data.draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0])))
    lon = (lon + 180) % 360 - 180
    assert haversine_km(*centre, lat, lon) <= km
    assert circle.south <= lat <= circle.north and circle.covers(lat, lon)


def test_a_wide_circle_holds_the_cells_around_its_centre_and_finds_their_sites() -> None:
    milan = (45.4642, 9.19)
    circle = _circle(milan, 250.0)
    term = TermCandidates(frozenset({"melanoma"}), {}).extended([], [circle])
    assert circle in term.inside[cell_of(*milan)]
    assert circle not in term.grid.get(cell_of(*milan), ())
    assert list(term.around(cell_of(*milan))) == [circle]
    assert _index().matching_ids([term], _study([(45.07, 7.69)])) == [1]  # Turin
    assert _index().matching_ids([term], _study([(41.9, 12.5)])) == []  # Rome: 478 km


def test_every_cell_a_circle_reaches_is_a_grid_key_so_a_far_study_costs_one_look() -> None:
    """A cell held whole is a grid key too, with no edge circle: one look rules out a far study."""
    milan = (45.4642, 9.19)
    circle = _circle(milan, 250.0)
    term = TermCandidates(frozenset({"melanoma"}), {}).extended([], [circle])
    assert term.grid[cell_of(*milan)] == ()
    assert set(term.inside) < set(term.grid)
    sydney = _study([(-33.87, 151.21)])
    assert term.grid.keys().isdisjoint(_Sites(sydney).cells)
    assert _index().matching_ids([term], sydney) == []


def test_a_term_extended_twice_files_its_circles_as_one_extended_once() -> None:
    first = [_circle((45.4642, 9.19), km, number) for number, km in enumerate((25.0, 250.0))]
    second = [_circle((41.9, 12.5), km, number) for number, km in enumerate((100.0, 3000.0), 2)]
    empty = TermCandidates(frozenset({"melanoma"}), {})
    once = empty.extended([], first + second)
    twice = empty.extended([], first).extended([], second)
    assert (twice.near, twice.wide) == (once.near, once.wide)
    assert twice.grid == once.grid and twice.inside == once.inside
