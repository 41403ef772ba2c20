"""Condition matching: which condition subscriptions a study satisfies.

A subscription matches a study when every word of its normalized term is in ONE
of the study's concepts (a condition, a keyword, a MeSH term or a MeSH
ancestor; titles and descriptions are not concepts) and all its filters hold.
Words of two different concepts never combine.  Normalization lives in
`worker.matching.concepts`.

Speed comes from doing the work once per side: a study is turned into a
`StudyConcepts` once per event, a subscription term into a frozenset once
(`normalize_term` is cached), and the hot check is a few dict lookups and an
AND of concept bitmasks.  The database finds candidates through `index_key`:
a subscription can only match a study whose `words` contain its index key.

Filters use every site the study lists, whatever the site's own recruitment
status: "recruiting" is the subscription's `statuses` filter on the study's
overall status, which is what the registry's own search filters on.  The
eligibility and design filters (age, sex, healthy volunteers, phases, study
types) are the rules of `worker.matching.eligibility`, run on the study's
parsed eligibility, made once per study and only when a filter asks.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from math import asin, cos, radians, sin, sqrt
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, cast

from worker.matching.concepts import (
    normalize_ancestor,
    normalize_concept,
    normalize_term,
    placed_elsewhere,
)
from worker.matching.eligibility import StudyEligibility, accepts, study_eligibility

__all__ = [
    "Filters",
    "NearCircle",
    "StudyConcepts",
    "ancestor_texts",
    "any_site_within",
    "concept_word_sets",
    "filters_pass",
    "haversine_from_km",
    "haversine_km",
    "index_key",
    "mesh_texts",
    "near_reach",
    "normalize_term",
    "own_texts",
    "site_within",
    "study_concepts",
    "term_matches",
]

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LATITUDE = math.pi * EARTH_RADIUS_KM / 180

# Words that many studies share: a poor index key when the term has a better one.
_GENERIC_WORDS = frozenset(
    {"neoplasm", "disease", "syndrome", "disorder", "injury", "infection", "cell", "type"}
    | {"stage", "chronic", "acute", "advanced", "metastatic", "recurrent", "refractory"}
    | {"relapsed", "primary", "secondary", "malignant", "benign", "adult", "child"}
    | {"childhood", "pediatric", "patient", "condition", "health", "healthy", "volunteer"}
    | {"early", "late", "severe", "mild", "moderate", "human", "system", "tissue", "failure"}
    | {"solid", "local", "locally", "distant", "high", "low", "grade"}
)
# Specific enough to name, but each shared by many studies.
_COMMON_WORDS = frozenset(
    {"carcinoma", "adenocarcinoma", "lymphoma", "leukemia", "sarcoma", "squamous", "nervous"}
    | {"central", "cardiovascular", "respiratory", "tract", "digestive", "vascular", "immune"}
)
_NUMBER_TYPES = frozenset({int, float})  # not bool: True is no latitude


@lru_cache(maxsize=4096)
def _fold_country(name: str) -> str:
    return " ".join(name.casefold().split())


@dataclass(frozen=True)
class StudyConcepts:
    """A study as matching sees it, built once per study event.

    `concepts` holds one word set per distinct concept; `words` is their union
    (what the candidate query looks up); `word_masks` maps each word to a bitmask
    of the concepts holding it.  Site countries, points and eligibility are
    computed on first use only: a 1,148-site study costs nothing until a term
    matches (then the filter verdicts a batch shares are looked up by its
    status, countries and eligibility: worker/matching/criteria_index.py,
    `BatchShare`), and its points until a subscription filters on place.
    """

    concepts: tuple[frozenset[str], ...]
    status: str = ""
    sites: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False)
    summary: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    words: frozenset[str] = field(init=False)
    word_masks: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        masks: dict[str, int] = {}
        for position, concept in enumerate(self.concepts):
            for word in concept:
                masks[word] = masks.get(word, 0) | (1 << position)
        object.__setattr__(self, "words", frozenset(masks))
        object.__setattr__(self, "word_masks", masks)

    @cached_property
    def countries(self) -> frozenset[str]:
        """Case-folded country names of all listed sites."""
        names = {
            name
            for site in self.sites
            if isinstance(site, dict) and isinstance(name := site.get("country"), str)
        }  # a value of another type (a list, say) is no country, and must not stop a batch
        return frozenset(map(_fold_country, names)) - {""}

    @cached_property
    def points(self) -> tuple[tuple[float, float], ...]:
        """(lat, lon) of every site with a geoPoint, sorted by latitude."""
        points = [
            (lat, lon)
            for site in self.sites
            if isinstance(site, dict)
            and type(lat := site.get("lat")) in _NUMBER_TYPES
            and type(lon := site.get("lon")) in _NUMBER_TYPES
        ]
        return cast("tuple[tuple[float, float], ...]", tuple(sorted(points, key=itemgetter(0))))

    @cached_property
    def latitudes(self) -> tuple[float, ...]:
        return tuple(lat for lat, _ in self.points)

    @cached_property
    def eligibility(self) -> StudyEligibility:
        """Ages in days, sexes, healthy volunteers, phases and study type, parsed once."""
        return study_eligibility(self.summary)


def own_texts(summary: Mapping[str, Any]) -> list[str]:
    """The study's own terms: conditions, keywords and MeSH terms."""
    texts = [
        text
        for key in ("conditions", "keywords")
        for text in summary.get(key) or ()
        if isinstance(text, str)
    ]
    return texts + mesh_texts(summary.get("meshes"))


def ancestor_texts(summary: Mapping[str, Any]) -> list[str]:
    """The MeSH ancestors of the study's MeSH terms."""
    return mesh_texts(summary.get("ancestors"))


def mesh_texts(entries: Any) -> list[str]:
    """The terms of a list of MeSH entries ({"id", "term"}, or bare terms)."""
    terms = (entry.get("term") if isinstance(entry, Mapping) else entry for entry in entries or ())
    return [term for term in terms if isinstance(term, str)]


def concept_word_sets(summary: Mapping[str, Any]) -> list[frozenset[str]]:
    """The word set of each of the study's concepts: own terms, then MeSH ancestors."""
    own_terms = own_texts(summary)
    own = [normalize_concept(text) for text in own_terms]
    concepts = own + [normalize_ancestor(text) for text in ancestor_texts(summary)]
    cancelled = placed_elsewhere(own_terms, own)
    if cancelled:
        concepts = [concept - cancelled for concept in concepts]
    return concepts


def study_concepts(summary: Mapping[str, Any]) -> StudyConcepts:
    """The study's concept word sets, overall status and sites, ready for matching."""
    concepts = dict.fromkeys(words for words in concept_word_sets(summary) if words)
    status = summary.get("status")
    return StudyConcepts(
        concepts=tuple(concepts),
        status=status.strip().upper() if isinstance(status, str) else "",
        sites=tuple(summary.get("sites") or ()),
        summary=summary,
    )


def index_key(words: frozenset[str]) -> str:
    """The one word of a subscription term the candidate index is keyed by.

    Fixed and stateless: a specific word before a common one before a generic
    one (neoplasm, disease, syndrome...) before numbers and one- or two-letter
    words; then the longest; then alphabetical.  Any word of the term would be
    correct (a match needs them all); the rule only keeps candidate lists short.
    """
    if not words:
        raise ValueError("an empty term has no index key")

    def rank(word: str) -> tuple[int, int, str]:
        if word.isdigit() or len(word) <= 2:
            tier = 3
        elif word in _GENERIC_WORDS:
            tier = 2
        else:
            tier = 1 if word in _COMMON_WORDS else 0
        return tier, -len(word), word

    return min(words, key=rank)


@dataclass(frozen=True)
class Filters:
    """Optional conditions on a study beyond its concepts; all given ones must hold.

    statuses: overall statuses (case-insensitive), countries: registry country
    names (case-insensitive), near: (lat, lon, km) that some site's geoPoint must
    be within; age (whole years), sex (female or male), healthy_volunteers (True:
    only studies taking them), phases and study_types (registry values): see
    `worker.matching.eligibility`.  An empty set, None or False means "any".
    """

    statuses: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    near: tuple[float, float, float] | None = None
    age: int | None = None
    sex: str | None = None
    healthy_volunteers: bool | None = None
    phases: frozenset[str] = frozenset()
    study_types: frozenset[str] = frozenset()
    asks_eligibility: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sets = (self.statuses, self.countries, self.phases, self.study_types)
        if any(isinstance(names, str) for names in sets):
            raise TypeError("statuses, countries, phases and study types are sets, not one string")
        statuses = frozenset(s.strip().upper() for s in self.statuses if s.strip())
        countries = frozenset(_fold_country(c) for c in self.countries if c.strip())
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "countries", countries)
        object.__setattr__(self, "phases", frozenset(p.strip().upper() for p in self.phases))
        object.__setattr__(
            self, "study_types", frozenset(t.strip().upper() for t in self.study_types)
        )
        object.__setattr__(self, "sex", self.sex.strip().lower() if self.sex else None)
        object.__setattr__(self, "healthy_volunteers", True if self.healthy_volunteers else None)
        if self.age is not None and (isinstance(self.age, bool) or self.age < 0):
            raise ValueError(f"age {self.age!r}: need whole years, 0 or more")
        asks = self.age is not None or self.sex is not None or self.healthy_volunteers
        object.__setattr__(self, "asks_eligibility", bool(asks or self.phases or self.study_types))
        if self.near is not None:
            lat, lon, km = (float(value) for value in self.near)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < km < math.inf):
                raise ValueError(f"near {self.near!r}: need -90<=lat<=90, -180<=lon<=180, km>0")
            object.__setattr__(self, "near", (lat, lon, km))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    phi1 = math.radians(lat1)
    return haversine_from_km(phi1, math.cos(phi1), lon1, lat2, lon2)


def haversine_from_km(phi1: float, cos_phi1: float, lon1: float, lat2: float, lon2: float) -> float:
    """`haversine_km` from a first point whose latitude is given in radians with its cosine.

    For a circle tested against many sites: its centre's trigonometry is
    worked out once, and every distance comes out bit for bit as
    `haversine_km` gives it (the same operations in the same order).
    """
    phi2 = radians(lat2)
    root = sqrt(
        sin((phi2 - phi1) / 2) ** 2 + cos_phi1 * cos(phi2) * sin(radians(lon2 - lon1) / 2) ** 2
    )
    # The hot path of "near" matching: names bound at import, and min(1.0, root) spelled
    # out (the builtin costs more than the trigonometry); the value is the same.
    return 2 * EARTH_RADIUS_KM * asin(root if root < 1.0 else 1.0)


def _longitude_reach(lat: float, km: float) -> float:
    """Largest longitude difference (degrees) a point within km of lat can have.

    180 when the circle reaches a pole.  (The bounding box of a spherical cap.)
    """
    angle = km / EARTH_RADIUS_KM
    if math.radians(abs(lat)) + angle >= math.pi / 2:
        return 180.0
    return math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))


# The box checked before any distance is the box of a circle a metre wider: the
# haversine distance is off by up to a fraction of a metre (most near antipodes),
# and a site the distance puts on the radius must never fall outside the box
# (on a circle that just reaches a pole, the site at the pole did).
_BOX_PAD_KM = 0.001


@lru_cache(maxsize=4096)
def near_reach(lat: float, km: float) -> tuple[float, float]:
    """Latitude and longitude reach (degrees, with slack) of the box around a circle of km."""
    padded = km + _BOX_PAD_KM
    return padded / KM_PER_DEGREE_LATITUDE + 1e-9, _longitude_reach(lat, padded) + 1e-9


class NearCircle(Protocol):
    """A near filter with its reach precomputed (see `near_reach`)."""

    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def km(self) -> float: ...
    @property
    def lat_reach(self) -> float: ...
    @property
    def lon_reach(self) -> float: ...


def site_within(point: tuple[float, float], circle: NearCircle) -> bool:
    """Whether a site's (lat, lon) lies within the circle: bounding box first, then distance."""
    site_lat, site_lon = point
    if not circle.lat - circle.lat_reach <= site_lat <= circle.lat + circle.lat_reach:
        return False
    lon_gap = abs(site_lon - circle.lon) % 360
    return (
        min(lon_gap, 360 - lon_gap) <= circle.lon_reach
        and haversine_km(circle.lat, circle.lon, site_lat, site_lon) <= circle.km
    )


def any_site_within(study: StudyConcepts, circle: NearCircle) -> bool:
    """Whether some site of the study lies within the circle.

    The one near-site check of matching, for a subscription's filter and for the
    criteria index alike.  Sites are sorted by latitude, so only those in the
    circle's latitude band are looked at.
    """
    latitudes, points = study.latitudes, study.points
    start = bisect_left(latitudes, circle.lat - circle.lat_reach)
    stop = bisect_right(latitudes, circle.lat + circle.lat_reach)
    return any(site_within(point, circle) for point in points[start:stop])


class _Circle(NamedTuple):
    """A `Filters.near` with its reach, as `any_site_within` takes it."""

    lat: float
    lon: float
    km: float
    lat_reach: float
    lon_reach: float


def _circle_of(near: tuple[float, float, float]) -> _Circle:
    lat, lon, km = near
    return _Circle(lat, lon, km, *near_reach(lat, km))


def term_matches(words: frozenset[str], study: StudyConcepts) -> bool:
    """Whether all words are in one single concept of the study (empty: never)."""
    if not words:
        return False
    masks = study.word_masks
    shared = -1
    for word in words:
        shared &= masks.get(word, 0)
        if not shared:
            return False
    return True


def filters_pass(filters: Filters, study: StudyConcepts) -> bool:
    """Whether the study satisfies every filter the subscription sets."""
    if filters.statuses and study.status not in filters.statuses:
        return False
    if filters.countries and filters.countries.isdisjoint(study.countries):
        return False
    if filters.asks_eligibility and not accepts(filters, study.eligibility):
        return False
    return filters.near is None or any_site_within(study, _circle_of(filters.near))
