"""Why a term matches a study or not, concept by concept, for admins (`trialalerts match explain`).

It follows the matcher step by step (worker/matching/concepts.py) but keeps
what the matcher throws away: which concept each word set came from and why
the tables added a word.  A test holds its word sets equal to the matcher's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.models import Study
from worker.matching.concepts import (
    implied_words,
    normalize_concept,
    normalize_term,
    placed_elsewhere,
)
from worker.matching.conditions import ancestor_texts, mesh_texts, own_texts


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
