"""The alert form of the sign-up and preferences pages: inputs to subscription fields and back.

People answer in words: an age, checkboxes with labels, a place and a
distance in km or miles. This module turns those inputs into the fields of
an import row, so `worker.subscriptions.rows.parse_row` judges them exactly
as it judges a file, and turns its verdict back into one message per input,
shown beside that input. A stored subscription goes the other way, to fill
the form in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from worker.core.cadence import FREQUENCIES
from worker.matching.eligibility import PHASES, STUDY_TYPES
from worker.subscriptions.places import DISTANCE_UNITS, Near, format_near, km_from
from worker.subscriptions.rows import Problem, RowRejected, SubscriptionRow
from worker.subscriptions.views import (
    FREQUENCY_LABELS,
    PHASE_LABELS,
    SEX_LABELS,
    STUDY_TYPE_LABELS,
)

# The inputs of the form, in page order; "place", "distance" and "unit" make `near`.
INPUTS = (
    "age",
    "sex",
    "healthy_volunteers",
    "phases",
    "study_types",
    "place",
    "distance",
    "unit",
    "frequency",
)
ELIGIBILITY_INPUTS = ("age", "sex", "healthy_volunteers", "phases", "study_types")
UNIT_LABELS = {"km": "km", "mi": "miles"}
_POINT = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*,\s*(-?[0-9]+(?:\.[0-9]+)?)\s*")


@dataclass(frozen=True)
class Choices:
    """What the form offers, with labels; the values come from the one home of each list."""

    frequencies: list[tuple[str, str]] = field(
        default_factory=lambda: [(value, FREQUENCY_LABELS[value]) for value in FREQUENCIES]
    )
    sexes: list[tuple[str, str]] = field(default_factory=lambda: list(SEX_LABELS.items()))
    phases: list[tuple[str, str]] = field(
        default_factory=lambda: [(value, PHASE_LABELS[value]) for value in PHASES]
    )
    study_types: list[tuple[str, str]] = field(
        default_factory=lambda: [(value, STUDY_TYPE_LABELS[value]) for value in STUDY_TYPES]
    )
    units: list[tuple[str, str]] = field(
        default_factory=lambda: [(value, UNIT_LABELS[value]) for value in DISTANCE_UNITS]
    )


def form_values(form: MultiDict[str, str], eligibility: bool = True) -> dict[str, Any]:
    """The alert inputs as typed, to fill the form in again; checkboxes as lists."""
    names = INPUTS if eligibility else ("place", "distance", "unit", "frequency")
    values: dict[str, Any] = {}
    for name in names:
        if name in ("phases", "study_types"):
            values[name] = [value for value in form.getlist(name) if value]
        else:
            values[name] = (form.get(name) or "").strip()
    return values


def row_fields(values: Mapping[str, Any]) -> tuple[dict[str, object], dict[str, str]]:
    """The parse_row fields the inputs give, and messages for inputs wrong on their own.

    Only the place and distance are judged here (a distance needs a place, a
    distance in miles becomes km); everything else is left to parse_row, the
    healthy volunteers box's "true" too ("false" asks nothing, as in a file).
    """
    fields: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name in ELIGIBILITY_INPUTS + ("frequency",):
        value = values.get(name)
        if value:
            fields[name] = value
    place, distance = values.get("place") or "", values.get("distance") or ""
    if place and not distance:
        errors["distance"] = "Say how far from this place, for example 50."
    elif distance and not place:
        errors["place"] = (
            "Say far from where: a city with its country or a US ZIP code (or clear the distance)."
        )
    elif place:
        try:
            km = km_from(distance, values.get("unit") or "km")
        except ValueError as exc:
            errors["distance"] = sentence(str(exc))
        else:
            point = _POINT.fullmatch(place)
            if point is not None:
                fields["near"] = f"{point.group(1)},{point.group(2)},{km!r}"
            else:
                fields["near"] = f"{place};{km!r}"
    return fields, errors


def input_errors(error: ValueError) -> dict[str, str]:
    """A refusal as one sentence per input: parse_row's problems beside their fields.

    `near` is the place unless the problem is about the distance; a problem
    naming no field (the sign-up's "give either a condition or an NCT id")
    and any other refusal are the form's.
    """
    problems = error.problems if isinstance(error, RowRejected) else (Problem(None, str(error)),)
    errors: dict[str, str] = {}
    for problem in problems:
        name = problem.field or "form"
        if name == "near":
            name = "distance" if problem.reason.startswith("distance ") else "place"
        errors[name] = " ".join(filter(None, (errors.get(name), sentence(problem.reason))))
    return errors


def stored_values(row: SubscriptionRow) -> dict[str, Any]:
    """A stored subscription as form inputs: its place (or point) and distance in km."""
    place = distance = ""
    if row.near is not None:
        near = Near(*row.near, row.near_place)
        text = format_near(near)
        if near.place is not None:
            place, _, distance = text.rpartition(";")
        else:
            lat, lon, distance = text.split(",")
            place = f"{lat}, {lon}"
    return {
        "age": "" if row.age is None else str(row.age),
        "sex": row.sex or "",
        "healthy_volunteers": "true" if row.healthy_volunteers else "",
        "phases": list(row.phases),
        "study_types": list(row.study_types),
        "place": place,
        "distance": distance,
        "unit": "km",
        "frequency": row.frequency,
    }


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!", '"', ")")) else text + "."
