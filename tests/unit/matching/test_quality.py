"""Matching meets its targets on the labelled pairs: precision >= 0.99, recall >= 0.97.

The pairs and the records written from MeSH facts are in
worker/bench/data/matching/ (its README says how they were made);
`trialalerts bench --only matching-quality` prints the same figures.
"""

from __future__ import annotations

from collections import Counter

from tests.support import real_record_names
from worker.bench.matching_quality import (
    PRECISION_TARGET,
    RECALL_TARGET,
    labelled_pairs,
    measure,
    study_summaries,
)

# What a pair labelled "no match" tests, and how many such traps the set holds at least.
TRAPS = {
    "qualifier": 5,
    "shared word": 5,
    "body site": 5,
    "negation": 5,
    "histology": 2,
    "region": 2,
}


def test_the_labelled_set_is_large_and_holds_every_kind_of_trap() -> None:
    pairs = labelled_pairs()
    assert len(pairs) >= 150
    assert len({(pair.term, pair.study) for pair in pairs}) == len(pairs)
    traps = Counter(pair.case for pair in pairs if not pair.match)
    assert all(traps[case] >= least for case, least in TRAPS.items()), traps
    real = {summary for summary in study_summaries() if not summary.startswith("NCT98")}
    assert {pair.study for pair in pairs} & real
    assert len(real) >= len(real_record_names())


def test_matching_meets_its_targets_on_the_labelled_set() -> None:
    quality = measure(labelled_pairs())
    assert quality.precision >= PRECISION_TARGET, quality.false_positives
    assert quality.recall >= RECALL_TARGET, quality.misses


def test_written_records_name_their_mesh_descriptors() -> None:
    written = [s for nct, s in study_summaries().items() if nct.startswith("NCT98")]
    assert len(written) >= 50
    assert all(mesh["id"].startswith("D") for study in written for mesh in study["meshes"])
