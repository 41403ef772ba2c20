"""Why a term matches a study or not, concept by concept, for admins (`trialalerts match explain`).

It follows the matcher step by step (worker/matching/concepts.py) but keeps
what the matcher throws away: which concept each word set came from and why
the tables added a word.  A test holds its word sets equal to the matcher's.
`explain_filters` judges each filter of a subscription alone, by the
matcher's own rules, and says what the study holds against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.models import Study, Subscription
from worker.matching.concepts import (
    implied_words,
    normalize_concept,
    normalize_term,
    placed_elsewhere,
)
from worker.matching.conditions import (
    Filters,
    StudyConcepts,
    ancestor_texts,
    filters_pass,
    haversine_km,
    mesh_texts,
    own_texts,
    study_concepts,
)
from worker.matching.eligibility import CHECKS, study_eligibility


@dataclass(frozen=True)
class ConceptWords:
    """One concept of a study: where it comes from, its words, and what the term lacks in it."""

    kind: str  # condition, keyword, MeSH term, MeSH ancestor
    text: str
    words: frozenset[str]  # normalized, before the tables' additions
    added: Mapping[str, str]  # word the tables add → why
    dropped: frozenset[str]  # words the rest of the record cancels (a uveal melanoma: skin)
    missing: frozenset[str]  # words of the term it lacks; empty: the term matches here

    @property
    def all_words(self) -> frozenset[str]:
        return (self.words | frozenset(self.added)) - self.dropped


@dataclass(frozen=True)
class Explanation:
    term: str
    words: frozenset[str]
    concepts: tuple[ConceptWords, ...]

    @property
    def matched(self) -> tuple[ConceptWords, ...]:
        return tuple(concept for concept in self.concepts if not concept.missing)


def _labelled(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) of each concept, in the matcher's order: own terms, then ancestors."""
    labelled = [
        (kind, text)
        for kind, key in (("condition", "conditions"), ("keyword", "keywords"))
        for text in summary.get(key) or ()
        if isinstance(text, str)
    ]
    labelled += [("MeSH term", text) for text in mesh_texts(summary.get("meshes"))]
    return labelled + [("MeSH ancestor", text) for text in ancestor_texts(summary)]


def explain(term: str, summary: Mapping[str, Any]) -> Explanation:
    """The term's words and, for each concept of the study, its words and what it lacks."""
    wanted = normalize_term(term)
    own = own_texts(summary)
    cancelled = placed_elsewhere(own, [normalize_concept(text) for text in own])
    concepts = []
    for kind, text in _labelled(summary):
        words = normalize_term(text)
        added = implied_words(words, ancestor=kind == "MeSH ancestor")
        dropped = cancelled & (words | frozenset(added))
        full = (words | frozenset(added)) - dropped
        concepts.append(ConceptWords(kind, text, words, added, dropped, wanted - full))
    return Explanation(term, wanted, tuple(concepts))


@dataclass(frozen=True)
class FilterVerdict:
    """One filter of a subscription against one study."""

    name: str  # as in subscription files: statuses, countries, near, age, ...
    asked: str  # what the subscription asks
    found: str  # what the study says about it
    passed: bool


def explain_filters(filters: Filters, summary: Mapping[str, Any]) -> list[FilterVerdict]:
    """A verdict for each filter the subscription sets, in the matcher's order."""
    study = study_concepts(summary)
    verdicts = []
    if filters.statuses:
        verdicts.append(
            FilterVerdict(
                "statuses",
                ", ".join(sorted(filters.statuses)),
                study.status or "no status",
                filters_pass(Filters(statuses=filters.statuses), study),
            )
        )
    if filters.countries:
        verdicts.append(
            FilterVerdict(
                "countries",
                ", ".join(sorted(filters.countries)),
                ", ".join(sorted(study.countries)) or "no site with a country",
                filters_pass(Filters(countries=filters.countries), study),
            )
        )
    verdicts += _eligibility_verdicts(filters, summary)
    if filters.near is not None:
        lat, lon, km = filters.near
        verdicts.append(
            FilterVerdict(
                "near",
                f"within {km:g} km of {lat:g}, {lon:g}",
                _nearest_site(study, lat, lon),
                filters_pass(Filters(near=filters.near), study),
            )
        )
    return verdicts


def _eligibility_verdicts(filters: Filters, summary: Mapping[str, Any]) -> list[FilterVerdict]:
    eligibility = summary.get("eligibility")
    said = eligibility if isinstance(eligibility, Mapping) else {}
    parsed = study_eligibility(summary)
    phases = summary.get("phases")
    found = {
        "age": _age_range(said.get("minimumAge"), said.get("maximumAge")),
        "sex": _said(said.get("sex")),
        "healthy_volunteers": _said(said.get("healthyVolunteers")),
        "phases": (
            "not recorded (an older snapshot)"
            if phases is None
            else ", ".join(map(str, phases)) or "none listed (counts as NA)"
        ),
        "study_types": _said(summary.get("study_type")),
    }
    asked = {
        "age": None if filters.age is None else str(filters.age),
        "sex": filters.sex,
        "healthy_volunteers": "true" if filters.healthy_volunteers else None,
        "phases": ", ".join(sorted(filters.phases)) or None,
        "study_types": ", ".join(sorted(filters.study_types)) or None,
    }
    return [
        FilterVerdict(name, wanted, found[name], check(filters, parsed))
        for name, check in CHECKS
        if (wanted := asked[name]) is not None
    ]


def _said(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value not in (None, "") else "not stated"


def _age_range(minimum: Any, maximum: Any) -> str:
    low, high = _said(minimum), _said(maximum)
    if low == high == "not stated":
        return "not stated"
    return f"minimum {low}, maximum {high}"


def _nearest_site(study: StudyConcepts, lat: float, lon: float) -> str:
    if not study.points:
        return "no site with a location"
    km = min(haversine_km(lat, lon, site_lat, site_lon) for site_lat, site_lon in study.points)
    return f"nearest site {km:,.1f} km away"


@dataclass(frozen=True)
class Snapshot:
    nct_id: str
    summary: dict[str, Any]
    removed: bool


def study_snapshot(session: Session, nct_id: str) -> Snapshot | None:
    """The stored snapshot of a study (what matching last saw), or None if unknown."""
    row = session.execute(
        select(Study.nct_id, Study.summary, Study.removed).where(
            Study.nct_id == nct_id.strip().upper()
        )
    ).first()
    return None if row is None else Snapshot(row.nct_id, row.summary or {}, row.removed)


def subscription_filters(session: Session, subscription_id: int) -> Filters | None:
    """The filters a stored condition subscription sets, or None if there is no such one."""
    row = session.get(Subscription, subscription_id)
    if row is None or row.kind != "condition":
        return None
    near = None
    if row.near_lat is not None and row.near_lon is not None and row.near_km is not None:
        near = (row.near_lat, row.near_lon, row.near_km)
    return Filters(
        statuses=frozenset(row.statuses or ()),
        countries=frozenset(row.countries or ()),
        near=near,
        age=row.age,
        sex=row.sex,
        healthy_volunteers=row.healthy_volunteers,
        phases=frozenset(row.phases or ()),
        study_types=frozenset(row.study_types or ()),
    )
