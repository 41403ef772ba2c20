"""Benchmark input made from the real registry records: event streams, vocabulary, places.

The records are the ones the tests use (`tests/data/ctgov` in a source
checkout, `worker/_data/ctgov` if a wheel carries them, or the folder named by
TRIALALERTS_BENCH_RECORDS).  Each event gets
its own NCT id, so a few records make any number of distinct studies.  An event
is serialized once per record as a template and rendered by splicing JSON
values into slots, so building 100k events costs little next to what is timed.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from worker.matching.concepts import normalize_term

RECORDS_ENV = "TRIALALERTS_BENCH_RECORDS"
VOCABULARY_FILE = Path(__file__).resolve().parent / "data" / "vocabulary.txt"
SOURCE = "https://clinicaltrials.gov"
CREATED = "gov.clinicaltrials.study.created"
UPDATED = "gov.clinicaltrials.study.updated"

SMALL_RECORDS = ("NCT00973089", "NCT02576665.partial", "NCT03475563", "NCT06171568")
# Per 100 events: mostly records of a few KB, some with results (98 KB), and the
# heavy tail the registry really has: 1,148 sites (369 KB) and 1.5 MB with results.
REALISTIC_MIX = (
    ("NCT00973089", 22),
    ("NCT02576665.partial", 22),
    ("NCT03475563", 22),
    ("NCT06171568", 22),
    ("NCT02210780", 9),
    ("NCT04267848", 2),
    ("NCT02513394", 1),
)
SMALL_MIX = tuple((name, 1) for name in SMALL_RECORDS)
# What a study's next update changes its status to.
NEXT_STATUS = {
    "NOT_YET_RECRUITING": "RECRUITING",
    "RECRUITING": "ACTIVE_NOT_RECRUITING",
    "ACTIVE_NOT_RECRUITING": "COMPLETED",
}
_SLOT = re.compile(rb'"@@(\w+)@@"')


class BenchSetupError(RuntimeError):
    """Something the benchmark needs is missing; the message says what and where."""


def records_dir() -> Path:
    """TRIALALERTS_BENCH_RECORDS, else a copy packaged in the wheel, else the checkout's."""
    configured = os.environ.get(RECORDS_ENV)
    package = Path(__file__).resolve().parents[1]
    packaged = package / "_data" / "ctgov"
    checkout = package.parent / "tests" / "data" / "ctgov"
    folder = Path(configured) if configured else packaged if packaged.is_dir() else checkout
    if not (folder / "NCT04267848.json").is_file():
        raise BenchSetupError(
            f"no registry records in {folder}: run from a source checkout "
            f"or set {RECORDS_ENV} to a copy of tests/data/ctgov"
        )
    return folder


@cache
def record_bytes(name: str) -> bytes:
    return (records_dir() / f"{name}.json").read_bytes()


def record(name: str) -> dict[str, Any]:
    """A fresh copy of one real record (callers change it)."""
    parsed: dict[str, Any] = orjson.loads(record_bytes(name))
    return parsed


def _shift_sites(protocol: dict[str, Any], north: float, east: float) -> None:
    for location in protocol.get("contactsLocationsModule", {}).get("locations", []):
        point = location.get("geoPoint")
        if isinstance(point, dict) and {"lat", "lon"} <= point.keys():
            point["lat"] = round(max(-90.0, min(90.0, point["lat"] + north)), 5)
            point["lon"] = round((point["lon"] + east + 180.0) % 360.0 - 180.0, 5)


def record_names() -> list[str]:
    return sorted(path.stem for path in records_dir().glob("NCT*.json"))


def nct_id(number: int) -> str:
    """The NCT id of synthetic study `number` (a range the registry has not reached)."""
    return f"NCT{90_000_000 + number:08d}"


def mix_names(mix: Sequence[tuple[str, int]], count: int, seed: int = 7) -> list[str]:
    """`count` record names in the mix's proportions, shuffled, the same every run."""
    deck = [name for name, weight in mix for _ in range(weight)]
    random.Random(seed).shuffle(deck)
    return [deck[i % len(deck)] for i in range(count)]


def mix_average_kb(mix: Sequence[tuple[str, int]]) -> float:
    total = sum(weight for _, weight in mix)
    return sum(len(record_bytes(name)) * weight for name, weight in mix) / total / 1024


@dataclass(frozen=True)
class EventTemplate:
    """A CloudEvent around one record, serialized once, with slots for what varies.

    The slots are the NCT id, the event's id, type and time, the overall status,
    the last-update date, the brief title and (when asked for) the conditions;
    then the record's MeSH terms, which name its own conditions, are left out
    (MeSH ancestors stay).
    """

    parts: tuple[bytes, ...]  # literal, slot name, literal, slot name, ..., literal
    status: str  # the record's own overall status and title, the default fillings
    title: str

    @classmethod
    def of(
        cls, name: str, conditions: bool = False, shift: tuple[float, float] = (0.0, 0.0)
    ) -> EventTemplate:
        """`shift` moves every site of the record by (degrees north, degrees east)."""
        data = record(name)
        protocol = data["protocolSection"]
        if shift != (0.0, 0.0):
            _shift_sites(protocol, *shift)
        ident = protocol["identificationModule"]
        status = protocol.setdefault("statusModule", {})
        original = (status.get("overallStatus") or "RECRUITING", ident.get("briefTitle") or "")
        ident["nctId"] = "@@nct@@"
        ident["briefTitle"] = "@@title@@"
        status["overallStatus"] = "@@status@@"
        status["lastUpdateSubmitDate"] = "@@last_update@@"
        if conditions:
            protocol.setdefault("conditionsModule", {})["conditions"] = "@@conditions@@"
            browse = data.get("derivedSection", {}).get("conditionBrowseModule", {})
            browse.pop("meshes", None)
        envelope = {
            "specversion": "1.0",
            "id": "@@id@@",
            "source": SOURCE,
            "type": "@@type@@",
            "subject": "@@nct@@",
            "time": "@@time@@",
            "datacontenttype": "application/json",
            "data": data,
        }
        return cls(tuple(_SLOT.split(orjson.dumps(envelope))), *original)

    def render(
        self,
        *,
        nct: str,
        id: str,
        type: str,
        time: datetime,
        last_update: str,
        status: str | None = None,
        title: str | None = None,
        conditions: Sequence[str] = (),
    ) -> bytes:
        """One JSON line (without the newline) with every slot filled."""
        values = {
            "nct": nct,
            "id": id,
            "type": type,
            "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "last_update": last_update,
            "status": status or self.status,
            "title": self.title if title is None else title,
            "conditions": list(conditions),
        }
        parts = list(self.parts)
        for i in range(1, len(parts), 2):
            parts[i] = orjson.dumps(values[parts[i].decode()])
        return b"".join(parts)


def _bundled_terms() -> list[str]:
    lines = VOCABULARY_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _record_terms(data: dict[str, Any]) -> Iterable[str]:
    conditions = data.get("protocolSection", {}).get("conditionsModule", {})
    yield from conditions.get("conditions") or ()
    yield from conditions.get("keywords") or ()
    browse = data.get("derivedSection", {}).get("conditionBrowseModule", {})
    for key in ("meshes", "ancestors"):
        for entry in browse.get(key) or ():
            if isinstance(entry, dict) and isinstance(entry.get("term"), str):
                yield entry["term"]


def _all_records() -> Iterable[dict[str, Any]]:
    for name in record_names():
        yield record(name)
    page = records_dir() / "search_page_melanoma_recruiting.json"
    if page.is_file():
        yield from orjson.loads(page.read_bytes()).get("studies") or ()


@cache
def vocabulary() -> tuple[str, ...]:
    """Condition terms, most wanted first: the bundled list, then the records' own terms.

    Terms meaning the same after normalization are kept once (the first spelling).
    """
    seen: set[frozenset[str]] = set()
    terms: list[str] = []
    record_terms = (term for data in _all_records() for term in _record_terms(data))
    for term in [*_bundled_terms(), *record_terms]:
        words = normalize_term(term)
        if words and words not in seen:
            seen.add(words)
            terms.append(term)
    return tuple(terms)


def zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    """Cumulative Zipf weights for ranks 1..count (for random.choices' cum_weights)."""
    total = 0.0
    cumulative = []
    for rank in range(1, count + 1):
        total += 1 / rank**exponent
        cumulative.append(total)
    return cumulative


@cache
def site_places() -> tuple[tuple[tuple[str, int], ...], tuple[tuple[float, float], ...]]:
    """(countries with their site counts, most first; distinct site points) of the records."""
    countries: Counter[str] = Counter()
    points: dict[tuple[float, float], None] = {}
    for data in _all_records():
        locations = data.get("protocolSection", {}).get("contactsLocationsModule", {})
        for site in locations.get("locations") or ():
            if isinstance(site.get("country"), str):
                countries[site["country"]] += 1
            point = site.get("geoPoint") or {}
            if isinstance(point.get("lat"), float) and isinstance(point.get("lon"), float):
                points[(round(point["lat"], 2), round(point["lon"], 2))] = None
    return tuple(countries.most_common()), tuple(points)
