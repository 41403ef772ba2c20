"""Study summaries and the diff that turns two summaries into classified changes.

A registry record can be 1.5 MB; everything downstream (diff, matching,
digests) needs a few kilobytes of it.  `summarize` extracts that compact,
JSON-serializable summary once, and `diff` compares summaries only, so the
last-update dates and every field we do not classify can never produce a
change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from msgspec import UnsetType

from worker.ingest.lean import LeanGeoPoint, LeanLocation

NCT_ID = re.compile(r"^NCT\d{8}$")
ELIGIBILITY_FIELDS = ("criteria", "sex", "minimumAge", "maximumAge", "healthyVolunteers", "stdAges")
DATE_FIELDS = (
    ("start", "startDateStruct"),
    ("primary_completion", "primaryCompletionDateStruct"),
    ("completion", "completionDateStruct"),
)
# Letters then digits.  Not "0*(\d+)$": on "D", many zeros and a letter, it backtracked
# through every split of the zeros; the zeros are stripped after the match instead.
_MESH_ID = re.compile(r"^([A-Za-z]+)(\d+)$")


class InvalidStudy(ValueError):
    """The record lacks what every study must have (an NCT id)."""


@dataclass(frozen=True)
class Change:
    kind: str
    field: str | None
    before: Any
    after: Any


def canonical_mesh_id(raw: str) -> str:
    """MeSH ids come padded (D000001943) or not (D001943): compare letter + number.

    The same few thousand ids come back in every record: each is worked out
    once (an id longer than any MeSH id is not kept).
    """
    return _canonical_mesh_id(raw) if len(raw) <= _LONGEST_KEPT else _mesh_id_of(raw)


_LONGEST_KEPT = 24


def _mesh_id_of(raw: str) -> str:
    found = _MESH_ID.match(raw.strip())
    if not found:
        return raw.strip()
    # Without its leading zeros, as "0*" left it: int() reads at most 4,300 digits.
    return f"{found.group(1).upper()}{int(found.group(2).lstrip('0') or '0')}"


_canonical_mesh_id = lru_cache(maxsize=65536)(_mesh_id_of)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _mesh_terms(entries: Any, name_key: str = "term") -> list[dict[str, str]]:
    terms = []
    for entry in _list(entries):
        entry = _dict(entry)
        term = _str(entry.get(name_key))
        if term:
            terms.append({"id": canonical_mesh_id(_str(entry.get("id"))), "term": term})
    return terms


def _browse(module: dict) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Recent records carry meshes + ancestors; older captures only browseLeaves."""
    meshes, ancestors = _mesh_terms(module.get("meshes")), _mesh_terms(module.get("ancestors"))
    if meshes or ancestors:
        return meshes, ancestors
    leaves = [_dict(leaf) for leaf in _list(module.get("browseLeaves"))]
    high = [leaf for leaf in leaves if leaf.get("relevance") == "HIGH"]
    low = [leaf for leaf in leaves if leaf.get("relevance") != "HIGH"]
    return _mesh_terms(high, "name"), _mesh_terms(low, "name")


_NO_MEMBERS: dict[str, Any] = {}  # what a location that is no object holds (never changed)


def _site(location: Any) -> dict[str, Any]:
    """One location's summary, written out: a record can have a thousand sites."""
    if type(location) is LeanLocation:
        return _lean_site(location)
    get = location.get if isinstance(location, dict) else _NO_MEMBERS.get
    point = get("geoPoint")
    lat = lon = None
    if isinstance(point, dict):
        north, east = point.get("lat"), point.get("lon")
        # A point off the globe (lat 999) locates nothing: distances to it are made up.
        if (
            type(north) in (int, float)
            and type(east) in (int, float)
            and -90 <= north <= 90
            and -180 <= east <= 180
        ):
            lat, lon = float(north), float(east)
    facility, city, state = get("facility"), get("city"), get("state")
    country, status = get("country"), get("status")
    return {
        "facility": facility.strip() if isinstance(facility, str) else "",
        "city": city.strip() if isinstance(city, str) else "",
        "state": state.strip() if isinstance(state, str) else "",
        "country": country.strip() if isinstance(country, str) else "",
        "status": status.strip() if isinstance(status, str) else "",
        "lat": lat,
        "lon": lon,
    }


def _lean_site(location: LeanLocation) -> dict[str, Any]:
    """`_site` of a location parsed lean, whose named fields are strings and its point numbers."""
    point = location.geoPoint
    lat = lon = None
    if isinstance(point, LeanGeoPoint):
        north, east = point.lat, point.lon
        if (
            not isinstance(north, UnsetType)
            and not isinstance(east, UnsetType)
            and -90 <= north <= 90
            and -180 <= east <= 180
        ):
            lat, lon = float(north), float(east)
    state = location.state
    return {
        "facility": location.facility.strip(),
        "city": location.city.strip(),
        "state": state.strip() if isinstance(state, str) else "",
        "country": location.country.strip(),
        "status": location.status.strip(),
        "lat": lat,
        "lon": lon,
    }


_DATE_SHAPE = re.compile(r"[0-9]{4}(-[0-9]{2}){0,2}")


def calendar_date(value: str, field: str) -> str:
    """`value` if it is a real calendar date, whole (2012-09-30) or partial (2012-09, 2012).

    The schema checks only the shape: "9999-99-99" would otherwise pass and,
    as a last-update date, make every later real update of the study stale.
    """
    if len(value) > len("2012-09-30") or not _is_calendar_date(value):
        raise InvalidStudy(f"{field} {value[:40]!r} is not a calendar date")
    return value


@lru_cache(maxsize=16384)  # a record has five dates, and records share most of them
def _is_calendar_date(value: str) -> bool:
    if not _DATE_SHAPE.fullmatch(value):  # int() would take " 9", "+9" or "9\n"
        return False
    year, month, day = (int(part) for part in [*value.split("-"), "1", "1"][:3])
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _date(struct: Any, field: str) -> dict[str, str] | None:
    struct = _dict(struct)
    value = _str(struct.get("date"))
    if not value:
        return None
    return {"date": calendar_date(value, f"{field}.date"), "type": _str(struct.get("type"))}


def nct_id_of(record: Any) -> str:
    """The record's NCT id, or InvalidStudy saying what is missing."""
    ident = _dict(_dict(_dict(record).get("protocolSection")).get("identificationModule"))
    nct_id = _str(ident.get("nctId")).upper()
    if not nct_id:
        raise InvalidStudy("data.protocolSection.identificationModule.nctId is missing")
    if not NCT_ID.match(nct_id):
        raise InvalidStudy(f"nctId {nct_id[:40]!r} is not NCT followed by 8 digits")
    return nct_id


def _last_update(status: dict) -> str | None:
    value = _str(status.get("lastUpdateSubmitDate"))
    return calendar_date(value, "lastUpdateSubmitDate") if value else None


def _status_verified(status: dict) -> str | None:
    """When the sponsor last confirmed the status: "recruiting" may be stale when this is old."""
    value = _str(status.get("statusVerifiedDate"))
    return calendar_date(value, "statusVerifiedDate") if value else None


def summarize(record: dict) -> dict[str, Any]:
    """The compact summary every later stage works on (shape documented in DESIGN).

    Publish hands it records parsed lean: a member of the record read here
    must be named in worker/ingest/lean.py too.
    """
    nct_id = nct_id_of(record)
    protocol = _dict(record.get("protocolSection"))
    ident = _dict(protocol.get("identificationModule"))
    status = _dict(protocol.get("statusModule"))
    conditions = _dict(protocol.get("conditionsModule"))
    eligibility = _dict(protocol.get("eligibilityModule"))
    design = _dict(protocol.get("designModule"))
    enrollment = _dict(design.get("enrollmentInfo"))
    locations = _list(_dict(protocol.get("contactsLocationsModule")).get("locations"))
    browse = _dict(_dict(record.get("derivedSection")).get("conditionBrowseModule"))
    meshes, ancestors = _browse(browse)
    return {
        "nct_id": nct_id,
        "title": _str(ident.get("briefTitle")),
        "status": _str(status.get("overallStatus")),
        "status_verified": _status_verified(status),
        "last_update": _last_update(status),
        "conditions": [c for c in map(_str, _list(conditions.get("conditions"))) if c],
        "keywords": [k for k in map(_str, _list(conditions.get("keywords"))) if k],
        "meshes": meshes,
        "ancestors": ancestors,
        "sites": [_site(location) for location in locations],
        "eligibility": {
            "criteria": _str(eligibility.get("eligibilityCriteria")),
            "sex": _str(eligibility.get("sex")),
            "minimumAge": _str(eligibility.get("minimumAge")),
            "maximumAge": _str(eligibility.get("maximumAge")),
            "healthyVolunteers": eligibility.get("healthyVolunteers"),
            "stdAges": [a for a in map(_str, _list(eligibility.get("stdAges"))) if a],
        },
        "phases": [p for p in map(_str, _list(design.get("phases"))) if p],
        "study_type": _str(design.get("studyType")),
        "enrollment": {"count": enrollment.get("count"), "type": _str(enrollment.get("type"))},
        "dates": {name: _date(status.get(key), key) for name, key in DATE_FIELDS},
        "has_results": record.get("hasResults") is True,
    }


# What condition matching reads of a summary: its concepts, overall status and
# sites, and what the eligibility, phase and study-type filters read.
MATCHING_FIELDS = (
    "conditions",
    "keywords",
    "meshes",
    "ancestors",
    "status",
    "sites",
    "eligibility",
    "phases",
    "study_type",
)
# The study's design, a significant change for study follows ("design" changes).
# Summaries stored before these keys existed lack them: no change is read then.
DESIGN_FIELDS = ("phases", "study_type")


def matching_view_changed(before: dict | None, after: dict | None) -> bool:
    """Whether condition matching could judge `after` otherwise than `before` (None: absent)."""
    if before is None or after is None:
        return True
    return any(before.get(name) != after.get(name) for name in MATCHING_FIELDS)


def site_label(site: dict[str, Any]) -> str:
    parts = (site.get("facility"), site.get("city"), site.get("country"))
    return ", ".join(p for p in parts if p)


def _sites_by_label(summary: dict) -> dict[str, str]:
    """Site label → status; a label listed twice keeps its first status."""
    sites: dict[str, str] = {}
    for site in summary.get("sites", ()):
        sites.setdefault(site_label(site), site.get("status", ""))
    return sites


def _site_changes(before: dict, after: dict) -> list[Change]:
    if before.get("sites") == after.get("sites"):
        return []  # most updates leave the sites alone: one comparison, not two label maps
    old, new = _sites_by_label(before), _sites_by_label(after)
    changes = [Change("site_added", label, None, new[label]) for label in new if label not in old]
    changes += [
        Change("site_removed", label, old[label], None) for label in old if label not in new
    ]
    changes += [
        Change("site_status", label, old[label], new[label])
        for label in new
        if label in old and old[label] != new[label]
    ]
    return changes


def _headline(summary: dict) -> dict[str, str]:
    return {"title": summary.get("title", ""), "status": summary.get("status", "")}


def diff(before: dict | None, after: dict | None) -> list[Change]:
    """Classified changes from one summary to the next (None = absent / removed)."""
    if after is None:
        return [] if before is None else [Change("removed", None, _headline(before), None)]
    if before is None:
        return [Change("new_study", None, None, _headline(after))]
    changes: list[Change] = []
    if before["status"] != after["status"]:
        changes.append(Change("status", "overallStatus", before["status"], after["status"]))
    if before["title"] != after["title"]:
        changes.append(Change("title", "briefTitle", before["title"], after["title"]))
    if before["conditions"] != after["conditions"]:
        changes.append(
            Change("conditions", "conditions", before["conditions"], after["conditions"])
        )
    changes += _site_changes(before, after)
    for name in ELIGIBILITY_FIELDS:
        old, new = before["eligibility"].get(name), after["eligibility"].get(name)
        if old != new:
            changes.append(Change("eligibility", name, old, new))
    for name in DESIGN_FIELDS:
        if name in before and name in after and before[name] != after[name]:
            changes.append(Change("design", name, before[name], after[name]))
    for name in ("count", "type"):
        old, new = before["enrollment"].get(name), after["enrollment"].get(name)
        if old != new:
            changes.append(Change("enrollment", name, old, new))
    for name, _key in DATE_FIELDS:
        old, new = before["dates"].get(name), after["dates"].get(name)
        if old != new:
            changes.append(Change("dates", name, old, new))
    if after["has_results"] and not before["has_results"]:
        changes.append(Change("results_posted", "hasResults", False, True))
    return changes
