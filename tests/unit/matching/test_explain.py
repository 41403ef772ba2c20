"""The explanation an admin reads is the matcher's own view of the study."""

from __future__ import annotations

import pytest

from tests.support import real_record_names, record
from tests.unit.matching.test_anatomy import BASKET, UVEAL
from worker.ingest.studies import summarize
from worker.matching.conditions import (
    concept_word_sets,
    normalize_term,
    study_concepts,
    term_matches,
)
from worker.matching.explain import explain

SUMMARIES = {name: summarize(record(name)) for name in real_record_names()} | {
    "uveal": UVEAL,
    "basket": BASKET,
}


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_explained_word_sets_are_the_matchers(name: str) -> None:
    summary = SUMMARIES[name]
    explained = explain("lung cancer", summary)
    assert [concept.all_words for concept in explained.concepts] == concept_word_sets(summary)


@pytest.mark.parametrize("term", ["lung cancer", "skin cancer", "melanoma", "caries", "x"])
@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_explanation_and_matcher_agree(name: str, term: str) -> None:
    summary = SUMMARIES[name]
    matched = bool(explain(term, summary).matched)
    assert matched is term_matches(normalize_term(term), study_concepts(summary))
