"""The alert form: inputs in words to import-row fields, and parse_row's verdict per input."""

from __future__ import annotations

from dataclasses import replace

import pytest
from werkzeug.datastructures import MultiDict

from worker.core.cadence import FREQUENCIES
from worker.subscriptions.rows import Problem, RowRejected, parse_row
from worker.web.alert_form import Choices, form_values, input_errors, row_fields, stored_values

CLEAR = "(or clear the distance)."
BASE = {"email": "ada@example.org", "kind": "condition", "condition": "melanoma"}


def fields_of(**inputs: str | list[str]) -> tuple[dict[str, object], dict[str, str]]:
    form = MultiDict(
        [
            (name, item)
            for name, value in inputs.items()
            for item in (value if isinstance(value, list) else [value])
        ]
    )
    return row_fields(form_values(form))


def test_inputs_become_the_fields_of_an_import_row() -> None:
    fields, errors = fields_of(
        age=" 42 ",
        sex="female",
        healthy_volunteers="true",
        phases=["PHASE2", "PHASE3"],
        study_types=["INTERVENTIONAL"],
        place="Milan, Italy",
        distance="50",
        unit="km",
        frequency="monthly",
    )
    assert errors == {}
    assert fields == {
        "age": "42",
        "sex": "female",
        "healthy_volunteers": "true",
        "phases": ["PHASE2", "PHASE3"],
        "study_types": ["INTERVENTIONAL"],
        "near": "Milan, Italy;50.0",
        "frequency": "monthly",
    }


def test_empty_inputs_ask_for_nothing() -> None:
    assert fields_of(age="", sex="", place=" ", distance="", unit="km") == ({}, {})


def test_miles_become_km_and_a_point_stays_a_point() -> None:
    assert fields_of(place="10001", distance="50", unit="mi")[0] == {"near": "10001;80.467"}
    assert fields_of(place="45.5, 9.2", distance="5", unit="km")[0] == {"near": "45.5,9.2,5.0"}


@pytest.mark.parametrize(
    ("inputs", "errors"),
    [
        ({"place": "Milan, Italy"}, {"distance": "Say how far from this place, for example 50."}),
        (
            {"distance": "50"},
            {"place": "Say far from where: a city with its country or a US ZIP code " + CLEAR},
        ),
        (
            {"place": "Milan, Italy", "distance": "30000", "unit": "km"},
            {"distance": "Distance 30000 km must be above 0 and at most 20,000 km."},
        ),
        (
            {"place": "Milan, Italy", "distance": "-1", "unit": "mi"},
            {"distance": "Distance -1 mi must be above 0 and at most 12,427 mi."},
        ),
        (
            {"place": "Milan, Italy", "distance": "far", "unit": "km"},
            {"distance": "Distance 'far' is not a number."},
        ),
        (
            {"place": "Milan, Italy", "distance": "5", "unit": "leagues"},
            {"distance": "Unit 'leagues' is not one of km, mi."},
        ),
    ],
)
def test_a_place_and_a_distance_go_together(inputs: dict[str, str], errors: dict[str, str]) -> None:
    fields, found = fields_of(**inputs)
    assert found == errors and "near" not in fields


def verdict(**fields: object) -> dict[str, str]:
    given = {**BASE, **fields}
    with pytest.raises(ValueError) as raised:
        parse_row(given)
    return input_errors(raised.value)


def test_parse_rows_verdict_is_one_sentence_per_input() -> None:
    assert verdict(email="nobody", frequency="hourly", timezone="Mars/Olympus") == {
        "email": "An email address must have an @-sign.",
        "frequency": f"Expected one of {', '.join(FREQUENCIES)}.",
        "timezone": "Not an IANA time zone name, e.g. Europe/Rome or UTC.",
    }


def test_a_required_field_and_a_message_naming_no_field() -> None:
    assert input_errors(RowRejected([Problem("email", "required")])) == {"email": "Required."}
    refusal = ValueError("give either a condition or an NCT id (one of the two)")
    assert input_errors(refusal) == {
        "form": "Give either a condition or an NCT id (one of the two)"
    }


def test_a_place_message_with_semicolons_and_quotes_stays_whole() -> None:
    near = "Springfield, United States;10.0"
    errors = verdict(near=near, email="nobody")
    assert set(errors) == {"email", "place"}
    assert errors["place"].startswith("'Springfield, United States' could be several places; did")
    assert '"Springfield, Illinois, United States"' in errors["place"]


def test_a_value_quoted_with_double_quotes_is_still_its_fields() -> None:
    errors = verdict(near="Crohn's Town, Italy;5.0")
    assert list(errors) == ["place"] and errors["place"].startswith("No city")


def test_a_bad_distance_inside_near_is_the_distance_inputs() -> None:
    assert verdict(near="Milan, Italy;0") == {
        "distance": "Distance 0 km must be above 0 and at most 20,000 km."
    }


def test_a_stored_alert_fills_the_form_in() -> None:
    row = parse_row(
        {**BASE, "age": 42, "phases": "PHASE2", "frequency": "weekly", "near": "milano, IT;50"}
    )
    values = stored_values(row)
    assert values == {
        "age": "42",
        "sex": "",
        "healthy_volunteers": "",
        "phases": ["PHASE2"],
        "study_types": [],
        "place": "Milan, Italy",
        "distance": "50",
        "unit": "km",
        "frequency": "weekly",
    }
    point = stored_values(replace(row, near=(45.5, 9.25, 12.5), near_place=None))
    assert (point["place"], point["distance"]) == ("45.5, 9.25", "12.5")
    assert row_fields(point)[0]["near"] == "45.5,9.25,12.5"
    assert stored_values(replace(row, near=None, near_place=None))["place"] == ""


def test_choices_come_from_their_one_home_with_words() -> None:
    choices = Choices()
    assert [value for value, _ in choices.frequencies] == list(FREQUENCIES)
    assert ("PHASE2", "Phase 2: does it work, is it safe") in choices.phases
    assert [value for value, _ in choices.units] == ["km", "mi"]
