"""An event line parsed into only the members that validation and the summary read.

A study record averages 27 KB on the realistic mix and up to 1.5 MB; publish
reads a few kilobytes of it.  orjson builds every object of the record and
Python then frees them all: 140 us an event.  msgspec, decoding into the
TypedDicts below, builds only the members named there and skips the rest
(still checking that it is JSON): 26 us.  The event as received is stored
from its text, never from the parsed value, so nothing else is lost.  Its
locations come as `LeanLocation` structs, every other member as JSON values.

`lean_event` answers only where the whole parse would give the same value
for every member named here and would accept the line.  Where msgspec's
skipping is more lenient than orjson, the line goes to the whole parse:
- numbers out of a double's range (orjson refuses 1e400; msgspec skips it),
  and integers past 64 bits, which orjson reads as floats and msgspec as ints:
  a line holding a number with an exponent of three digits or more, or a run
  of 19 digits anywhere, is left to orjson;
- nesting deeper than orjson's 1,024 levels: msgspec stops at Python's
  recursion limit, which is lower only while it is at most 1,024 and the
  interpreter counts C calls against it (before 3.12);
- invalid UTF-8 in a skipped string: the caller decodes the line first.
"""

from __future__ import annotations

import sys
from typing import Any, TypedDict, cast

import msgspec
from msgspec import UNSET, UnsetType


class LeanGeoPoint(msgspec.Struct, gc=False):
    lat: int | float | UnsetType = UNSET
    lon: int | float | UnsetType = UNSET


class LeanLocation(msgspec.Struct, gc=False):
    """A location whose named fields have the schema's types (meets_schema's `sites_typed`).

    A record can have a thousand sites: msgspec checks them as it builds
    them, and a struct is quicker to build and to read than a dict (the
    summary reads it in worker/ingest/studies.py).  No cycles: gc=False.
    """

    facility: str = ""
    status: str = ""
    city: str = ""
    state: Any = None
    country: str = ""
    geoPoint: LeanGeoPoint | UnsetType = UNSET


class _Contacts(TypedDict, total=False):
    locations: list[LeanLocation]


class _Identification(TypedDict, total=False):
    nctId: Any
    briefTitle: Any


class _DateStruct(TypedDict, total=False):
    date: Any
    type: Any


class _Status(TypedDict, total=False):
    overallStatus: Any
    statusVerifiedDate: Any
    lastUpdateSubmitDate: Any
    startDateStruct: _DateStruct
    primaryCompletionDateStruct: _DateStruct
    completionDateStruct: _DateStruct


class _Conditions(TypedDict, total=False):
    conditions: Any
    keywords: Any


class _Eligibility(TypedDict, total=False):
    eligibilityCriteria: Any
    sex: Any
    minimumAge: Any
    maximumAge: Any
    healthyVolunteers: Any
    stdAges: Any


class _Enrollment(TypedDict, total=False):
    count: Any
    type: Any


class _Design(TypedDict, total=False):
    phases: Any
    studyType: Any
    enrollmentInfo: _Enrollment


class _Protocol(TypedDict, total=False):
    identificationModule: _Identification
    statusModule: _Status
    conditionsModule: _Conditions
    eligibilityModule: _Eligibility
    designModule: _Design
    contactsLocationsModule: _Contacts


class _MeshTerm(TypedDict, total=False):
    id: Any
    term: Any


class _BrowseLeaf(TypedDict, total=False):
    id: Any
    name: Any
    relevance: Any


class _ConditionBrowse(TypedDict, total=False):
    meshes: list[_MeshTerm]
    ancestors: list[_MeshTerm]
    browseLeaves: list[_BrowseLeaf]


class _Derived(TypedDict, total=False):
    conditionBrowseModule: _ConditionBrowse


class _Study(TypedDict, total=False):
    protocolSection: _Protocol
    derivedSection: _Derived
    hasResults: Any


class _Event(TypedDict, total=False):
    specversion: Any
    id: Any
    source: Any
    type: Any
    subject: Any
    time: Any
    datacontenttype: Any
    data: _Study


_DECODER = msgspec.json.Decoder(_Event)
# The shape of a line's numbers: each digit a 0, each e or E an e, signs dropped, the rest a dot.
_SHAPE = bytes(48 if 48 <= byte <= 57 else 101 if byte in b"eE" else 46 for byte in range(256))
_COUNTS_C_CALLS = sys.version_info < (3, 12)
_ORJSON_DEPTH = 1024


def lean_event(line: bytes) -> dict[str, Any] | None:
    """The event in `line` with only the members above; None: leave the line to orjson.

    `line` must be valid UTF-8 (the caller has decoded it).
    """
    if not _COUNTS_C_CALLS or sys.getrecursionlimit() > _ORJSON_DEPTH:
        return None
    shape = line.translate(_SHAPE, b"+-")
    if b"0e000" in shape or b"0000000000000000000" in shape:
        return None
    try:
        event = _DECODER.decode(line)
    except Exception:  # noqa: BLE001 - not JSON, not of this shape, too deep: orjson says
        return None
    return cast(dict[str, Any], event)  # a TypedDict is a dict to Python, not to mypy
