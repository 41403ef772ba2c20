"""Sites near a subscriber: the nearest site of a study, and the sites an update opened.

A `near` subscription hears of a study through a site within its radius, so its
digest names that site, its city and its distance.  Matching holds the
subscriber's point and the study's sites at the moment it fires, so it works
the site out then and stores it with the notification (`notifications.near_site`,
a `SiteNote`); the digest only puts it into words.

"A site opened near you": a study a `near` subscription matched before an
update and still matches after it gains a site within the radius, or one of its
sites there changes to RECRUITING.  Both are changes ingest already recorded
(`site_added`, `site_status`), so an event seen twice or out of order, which
ingest turns into no change, opens nothing; a change is matched once, so it
fires once.  A study that newly matches gets the usual new-match item instead.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from functools import cached_property
from typing import Any, TypedDict

from worker.ingest.snapshots import EventSummary
from worker.ingest.studies import site_label
from worker.matching.conditions import haversine_km, near_reach, site_within
from worker.matching.criteria_index import TermCandidates, cell_of

OPENED = "opened"  # a site was added within the radius
RECRUITING = "recruiting"  # a site within the radius changed to RECRUITING
NEAREST = "nearest"  # the nearest site of a study that newly matched
# A site added with one of these statuses (or none: older records) is open to patients.
OPEN_SITE_STATUSES = frozenset(
    {"", "RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"}
)
SITE_CHANGE_KINDS = ("site_added", "site_status")


class SiteNote(TypedDict):
    """What a digest says of a site near the subscriber (`why`: OPENED, RECRUITING or NEAREST)."""

    why: str
    facility: str
    city: str
    state: str
    country: str
    km: float


def opening(kind: str, before: Any, after: Any) -> str | None:
    """OPENED or RECRUITING when a site change opens the site to patients, else None."""
    if (
        kind == "site_added"
        and isinstance(after, str | None)
        and (after or "") in OPEN_SITE_STATUSES
    ):
        return OPENED
    if kind == "site_status" and after == "RECRUITING" and before != "RECRUITING":
        return RECRUITING
    return None


def site_note(why: str, site: Mapping[str, Any], km: float) -> SiteNote:
    def text(key: str) -> str:
        value = site.get(key)
        return value if isinstance(value, str) else ""

    return SiteNote(
        why=why,
        facility=text("facility"),
        city=text("city"),
        state=text("state"),
        country=text("country"),
        km=round(km, 1),
    )


def preferred(first: SiteNote | None, second: SiteNote | None) -> SiteNote | None:
    """The note a notification keeps when two subscriptions give one: opened, then nearer."""
    if first is None or second is None:
        return first or second
    rank = {OPENED: 0, RECRUITING: 0, NEAREST: 1}
    return min(first, second, key=lambda note: (rank.get(note["why"], 2), note["km"]))


def _point(site: Any) -> tuple[float, float] | None:
    if not isinstance(site, Mapping):
        return None
    lat, lon = site.get("lat"), site.get("lon")
    if type(lat) not in (int, float) or type(lon) not in (int, float):
        return None
    return float(lat), float(lon)


class StudySites:
    """One study summary's sites, for distance questions; built once per event."""

    def __init__(self, summary: Mapping[str, Any] | None) -> None:
        sites = summary.get("sites") if isinstance(summary, Mapping) else None
        self.sites: Sequence[Any] = sites if isinstance(sites, list) else ()
        self._nearest: dict[tuple[float, float, float], SiteNote | None] = {}

    @staticmethod
    def of_events(events: Mapping[int, EventSummary]) -> Callable[[int], StudySites]:
        """Each event's sites by event id, worked out on first use and kept for the batch."""
        cache: dict[int, StudySites] = {}

        def sites(event_pk: int) -> StudySites:
            found = cache.get(event_pk)
            if found is None:
                event = events.get(event_pk)
                found = cache[event_pk] = StudySites(event.summary if event else None)
            return found

        return sites

    @cached_property
    def _by_latitude(self) -> tuple[list[float], list[tuple[float, float, int]]]:
        located = sorted(
            (point[0], point[1], index)
            for index, site in enumerate(self.sites)
            if (point := _point(site)) is not None
        )
        return [lat for lat, _, _ in located], located

    def nearest(self, lat: float, lon: float, km: float) -> tuple[Mapping[str, Any], float] | None:
        """The site nearest to (lat, lon) within km, with its distance; None when none is."""
        latitudes, located = self._by_latitude
        lat_reach, _ = near_reach(lat, km)
        start = bisect_left(latitudes, lat - lat_reach)
        stop = bisect_right(latitudes, lat + lat_reach)
        best: tuple[float, int] | None = None
        for site_lat, site_lon, index in located[start:stop]:
            distance = haversine_km(lat, lon, site_lat, site_lon)
            if distance <= km and (best is None or distance < best[0]):
                best = (distance, index)
        return None if best is None else (self.sites[best[1]], best[0])

    def nearest_note(self, lat: float, lon: float, km: float) -> SiteNote | None:
        """`nearest` as a NEAREST note, once per circle: many subscribers share one."""
        key = (lat, lon, km)
        if key not in self._nearest:
            found = self.nearest(lat, lon, km)
            self._nearest[key] = None if found is None else site_note(NEAREST, *found)
        return self._nearest[key]

    @cached_property
    def _by_label(self) -> dict[str, tuple[Mapping[str, Any], tuple[float, float]]]:
        found: dict[str, tuple[Mapping[str, Any], tuple[float, float]]] = {}
        for site in self.sites:
            point = _point(site)
            if point is not None:
                found.setdefault(site_label(site), (site, point))
        return found

    def located(self, label: Any) -> tuple[Mapping[str, Any], tuple[float, float]] | None:
        """The first site with this change label ("facility, city, country") and a point."""
        return self._by_label.get(label) if isinstance(label, str) else None


Opening = tuple[int, str, Any]  # (change id, OPENED or RECRUITING, the site's change label)


def sites_opened_near(
    terms: Iterable[TermCandidates],
    already: Set[int],
    openings: Iterable[Opening],
    sites: StudySites,
) -> list[tuple[int, int, SiteNote]]:
    """(criteria id, change id, note) for each opened site within a near criteria's radius.

    `terms` are the terms the study matches and `already` the criteria that
    matched it before the update and still do; only their near criteria
    around each opened site are looked at (the terms' one-degree grids).
    """
    found = []
    for change_id, why, label in openings:
        located = sites.located(label)
        if located is None:
            continue
        site, point = located
        cell = cell_of(*point)
        for term in terms:
            if not term.near:
                continue
            for circle in term.around(cell):
                if circle.id in already and site_within(point, circle):
                    km = haversine_km(circle.lat, circle.lon, *point)
                    found.append((circle.id, change_id, site_note(why, site, km)))
    return found
