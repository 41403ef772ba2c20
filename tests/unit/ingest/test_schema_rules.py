"""The schema's rules as plain code say yes exactly when the compiled schema does."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import event, real_record_names, record
from worker.core.paths import schema_dir
from worker.ingest.events import EVENT_SCHEMA, _validator
from worker.ingest.schema_rules import meets_schema

# The schema worker/ingest/schema_rules.py was written for: change both together.
SCHEMA_SHA256 = "bff5bf4a156e3a4bd048bd3a9a09c84b58e152b96a64771565e9645b44230bca"


def _schema_accepts(value: Any) -> bool:
    try:
        _validator()(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def test_the_rules_are_those_of_the_schema_as_it_is() -> None:
    text = (schema_dir() / EVENT_SCHEMA).read_bytes()
    assert hashlib.sha256(text).hexdigest() == SCHEMA_SHA256, (
        "the event schema changed: change worker/ingest/schema_rules.py to match, and the"
        " members worker/ingest/lean.py reads, then this hash"
    )


@pytest.mark.parametrize("name", real_record_names())
def test_every_real_record_meets_the_rules(name: str) -> None:
    assert meets_schema(event(record(name), "e1"))


def test_a_removal_needs_a_subject_or_data() -> None:
    removal = {
        "specversion": "1.0",
        "id": "r",
        "source": "s",
        "type": "gov.clinicaltrials.study.removed",
    }
    assert not meets_schema(removal) and not _schema_accepts(removal)
    assert meets_schema(removal | {"subject": "nct00973089"})


def test_what_the_rules_do_not_decide_goes_to_the_schema() -> None:
    """A tuple is an array and a Decimal a number to the schema: the rules leave them to it."""
    value = event(record("NCT03475563"), "e1")
    value["data"]["protocolSection"]["conditionsModule"]["conditions"] = ("Glioma",)
    assert not meets_schema(value) and _schema_accepts(value)


BASE = event(record("NCT03475563"), "e1")
BASE["data"]["protocolSection"]["contactsLocationsModule"]["locations"][0]["geoPoint"] = {
    "lat": 45.5,
    "lon": 9,
}
BASE["data"]["derivedSection"]["conditionBrowseModule"]["meshes"] = [
    {"id": "D005910", "term": "Glioma"}
]
# Every place the schema says something about, and a few it does not.
PATHS: list[tuple[Any, ...]] = [
    ("specversion",),
    ("id",),
    ("source",),
    ("type",),
    ("subject",),
    ("time",),
    ("datacontenttype",),
    ("data",),
    ("data", "protocolSection"),
    ("data", "protocolSection", "identificationModule"),
    ("data", "protocolSection", "identificationModule", "nctId"),
    ("data", "protocolSection", "identificationModule", "briefTitle"),
    ("data", "protocolSection", "statusModule"),
    ("data", "protocolSection", "statusModule", "overallStatus"),
    ("data", "protocolSection", "statusModule", "lastUpdateSubmitDate"),
    ("data", "protocolSection", "statusModule", "startDateStruct"),
    ("data", "protocolSection", "statusModule", "startDateStruct", "date"),
    ("data", "protocolSection", "statusModule", "startDateStruct", "type"),
    ("data", "protocolSection", "statusModule", "primaryCompletionDateStruct", "date"),
    ("data", "protocolSection", "statusModule", "completionDateStruct"),
    ("data", "protocolSection", "statusModule", "statusVerifiedDate"),
    ("data", "protocolSection", "conditionsModule"),
    ("data", "protocolSection", "conditionsModule", "conditions"),
    ("data", "protocolSection", "conditionsModule", "conditions", 0),
    ("data", "protocolSection", "conditionsModule", "keywords"),
    ("data", "protocolSection", "eligibilityModule"),
    ("data", "protocolSection", "eligibilityModule", "sex"),
    ("data", "protocolSection", "designModule"),
    ("data", "protocolSection", "designModule", "enrollmentInfo"),
    ("data", "protocolSection", "designModule", "enrollmentInfo", "count"),
    ("data", "protocolSection", "designModule", "enrollmentInfo", "type"),
    ("data", "protocolSection", "contactsLocationsModule"),
    ("data", "protocolSection", "contactsLocationsModule", "locations"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 1, "facility"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "status"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "city"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 2, "country"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "state"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "geoPoint"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "geoPoint", "lat"),
    ("data", "protocolSection", "contactsLocationsModule", "locations", 0, "geoPoint", "lon"),
    ("data", "derivedSection"),
    ("data", "derivedSection", "conditionBrowseModule"),
    ("data", "derivedSection", "conditionBrowseModule", "meshes"),
    ("data", "derivedSection", "conditionBrowseModule", "meshes", 0),
    ("data", "derivedSection", "conditionBrowseModule", "meshes", 0, "id"),
    ("data", "derivedSection", "conditionBrowseModule", "ancestors", 0, "term"),
    ("data", "hasResults"),
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
# Values on either side of the schema's patterns, lengths and types.
NEAR_VALUES: list[Any] = [
    "1.0",
    "1",
    "",
    "x" * 500,
    "x" * 501,
    "gov.clinicaltrials.study.created",
    "gov.clinicaltrials.study.removed",
    "gov.clinicaltrials.study.deleted",
    "NCT12345678",
    "nct12345678",
    "NCT1234567",
    "NCT123456789",
    "NCT12345678\n",
    "2026-06-27T09:00:00Z",
    "2026-06-27t09:00:00.5+02:00",
    "2026-06-27 09:00:00z",
    "2026-06-27T09:00:00",
    "2026-06-27T09:00:00Z\n",
    "application/json",
    "application/cloudevents+json; charset=utf-8",
    "text/json",
    "2012-09",
    "2012-09-30",
    "2012-9-30",
    "2012-09-30\n",
    "9999-99-99",
    1,
    0,
    -5,
    1.0,
    1.5,
    1e300,
    float("inf"),
    float("nan"),
    True,
    False,
    None,
    {},
    [],
    ["a"],
    [1],
    [{}],
    {"lat": 1, "lon": 2.5},
    {"lat": "1"},
    {"id": 1},
    {"date": "2012-09"},
    {"date": 2012},
    {"type": None},
]
NEAR = st.sampled_from(NEAR_VALUES)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    value = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = value
        for key in path[:-1]:
            parent = _child(parent, key)
        last = path[-1]
        if _has(parent, last) and isinstance(parent, dict) and draw(st.booleans()):
            del parent[last]
        elif _has(parent, last) or isinstance(parent, dict) and isinstance(last, str):
            parent[last] = copy.deepcopy(draw(NEAR | JSON))  # later draws may change it
    return value


def _has(parent: Any, key: Any) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return isinstance(parent, list) and isinstance(key, int) and key < len(parent)


def _child(parent: Any, key: Any) -> Any:
    return parent[key] if _has(parent, key) else None


_DELETED = object()


def test_the_rules_and_the_schema_agree_on_each_place_with_each_near_value() -> None:
    for path in PATHS:
        for near in [_DELETED, *NEAR_VALUES]:
            value = copy.deepcopy(BASE)
            parent: Any = value
            for key in path[:-1]:
                parent = _child(parent, key)
            if not _has(parent, path[-1]):
                continue
            if near is _DELETED:
                if isinstance(parent, list):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(near)
            assert meets_schema(value) == _schema_accepts(value), (path, near)


@settings(max_examples=600, deadline=None)
@given(mutated())
def test_the_rules_and_the_schema_agree_on_any_json_event(value: dict[str, Any]) -> None:
    assert meets_schema(value) == _schema_accepts(value)
