"""The event schema's rules as plain code: a quick yes for an event that meets them.

`meets_schema` answers True only for an event that the compiled schema
(schema/events/study-event.v1.json, through fastjsonschema) accepts; for
anything else, and for what it does not try to decide (a tuple for an array,
a dict subclass, a Decimal), it answers False and the caller asks the
compiled schema, which also says why.  Walking a record with the compiled
schema took 54 us an event on the realistic mix, this 12 us: most of it is
the sites of the records with a thousand sites.

It checks exactly what the schema says and nothing more: a change to the
schema needs the same change here (tests/unit/ingest/test_schema_rules.py
pins the schema it was written for and compares both on mutated events).
"""

from __future__ import annotations

import re
from typing import Any

_NCT_ID = re.compile(r"[Nn][Cc][Tt][0-9]{8}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_CONTENT_TYPE = re.compile(r"application/(.+\+)?json")  # a prefix, as the schema's pattern
_REMOVED = "gov.clinicaltrials.study.removed"
_TYPES = frozenset(
    ("gov.clinicaltrials.study.created", "gov.clinicaltrials.study.updated", _REMOVED)
)
_DATE_STRUCTS = ("startDateStruct", "primaryCompletionDateStruct", "completionDateStruct")
_NONE: dict[str, Any] = {}  # an absent object: nothing in it to check (never changed)


def meets_schema(event: Any, *, sites_typed: bool = False) -> bool:
    """True: the schema accepts `event`.  False: it may not (ask the compiled schema).

    `sites_typed`: each location is known to be an object whose named fields
    have the schema's types (worker/ingest/lean.py decodes them so): only
    that they come in a list is checked here.
    """
    if type(event) is not dict:
        return False
    get = event.get
    version = get("specversion")
    if type(version) is not str or version != "1.0":
        return False
    if not (_name(get("id")) and _name(get("source"))):
        return False
    kind = get("type")
    if type(kind) is not str or kind not in _TYPES:
        return False
    if "subject" in event and not _matches(_NCT_ID, event["subject"]):
        return False
    if "time" in event and not _matches(_TIME, event["time"]):
        return False
    if "datacontenttype" in event:
        content_type = event["datacontenttype"]
        if type(content_type) is not str or not _CONTENT_TYPE.match(content_type):
            return False
    if "data" in event:
        return _study(event["data"], sites_typed)
    return kind == _REMOVED and "subject" in event


def _name(value: Any) -> bool:
    """A string of 1 to 500 characters (the id and the source)."""
    return type(value) is str and 0 < len(value) <= 500


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return type(value) is str and pattern.fullmatch(value) is not None


def _strings(values: Any) -> bool:
    return type(values) is list and all(type(value) is str for value in values)


def _study(data: Any, sites_typed: bool) -> bool:
    if type(data) is not dict:
        return False
    protocol = data.get("protocolSection")
    if type(protocol) is not dict or not _protocol(protocol, sites_typed):
        return False
    derived = data.get("derivedSection", _NONE)
    if type(derived) is not dict:
        return False
    browse = derived.get("conditionBrowseModule", _NONE)
    if type(browse) is not dict:
        return False
    if "meshes" in browse and not _mesh_terms(browse["meshes"]):
        return False
    if "ancestors" in browse and not _mesh_terms(browse["ancestors"]):
        return False
    return type(data.get("hasResults", False)) is bool


def _protocol(protocol: dict[str, Any], sites_typed: bool) -> bool:
    ident = protocol.get("identificationModule")
    if type(ident) is not dict or not _matches(_NCT_ID, ident.get("nctId")):
        return False
    if type(ident.get("briefTitle", "")) is not str:
        return False
    status = protocol.get("statusModule", _NONE)
    if type(status) is not dict or type(status.get("overallStatus", "")) is not str:
        return False
    if "lastUpdateSubmitDate" in status and not _matches(_DATE, status["lastUpdateSubmitDate"]):
        return False
    for key in _DATE_STRUCTS:
        if key in status and not _date_struct(status[key]):
            return False
    conditions = protocol.get("conditionsModule", _NONE)
    if type(conditions) is not dict:
        return False
    if "conditions" in conditions and not _strings(conditions["conditions"]):
        return False
    if "keywords" in conditions and not _strings(conditions["keywords"]):
        return False
    if type(protocol.get("eligibilityModule", _NONE)) is not dict:
        return False
    design = protocol.get("designModule", _NONE)
    if type(design) is not dict:
        return False
    enrollment = design.get("enrollmentInfo", _NONE)
    if type(enrollment) is not dict or type(enrollment.get("type", "")) is not str:
        return False
    count = enrollment.get("count", 0)
    if type(count) is not int and not (type(count) is float and count.is_integer()):
        return False
    contacts = protocol.get("contactsLocationsModule", _NONE)
    if type(contacts) is not dict:
        return False
    if "locations" not in contacts:
        return True
    locations = contacts["locations"]
    return type(locations) is list if sites_typed else _locations(locations)


def _date_struct(struct: Any) -> bool:
    if type(struct) is not dict:
        return False
    if "date" in struct and not _matches(_DATE, struct["date"]):
        return False
    return type(struct.get("type", "")) is str


def _locations(locations: Any) -> bool:
    """Every location an object whose named fields are strings and whose point has numbers."""
    if type(locations) is not list:
        return False
    for location in locations:
        if type(location) is not dict:
            return False
        get = location.get
        if (
            type(get("facility", "")) is not str
            or type(get("status", "")) is not str
            or type(get("city", "")) is not str
            or type(get("country", "")) is not str
        ):
            return False
        point = get("geoPoint", _NONE)
        if type(point) is not dict:
            return False
        if point:
            lat, lon = point.get("lat", 0), point.get("lon", 0)
            if (type(lat) is not float and type(lat) is not int) or (
                type(lon) is not float and type(lon) is not int
            ):
                return False
    return True


def _mesh_terms(terms: Any) -> bool:
    if type(terms) is not list:
        return False
    for term in terms:
        if (
            type(term) is not dict
            or type(term.get("id", "")) is not str
            or type(term.get("term", "")) is not str
        ):
            return False
    return True
