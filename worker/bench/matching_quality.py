"""Matching quality: precision and recall on labelled (term, study) pairs of real registry records.

The pairs are in worker/bench/data/matching/labelled.jsonl: a term as a
subscriber would write it, a study, and whether a patient who subscribed with
that term would want to hear of that study.  The studies are the real records
the tests use (tests/data/ctgov, search page included) and records written from
ClinicalTrials.gov's MeSH facts (studies.jsonl beside the pairs: conditions as
investigators write them, MeSH terms and ancestors as the registry derives
them).  Many pairs are traps: another qualifier (Hemophilia A / B), another
disease sharing a word (multiple sclerosis / myeloma), another body site, a
negation (non-small cell / small cell).  Every miss and false positive is
named, so a change of rules shows what it costs.

Pairs that only a thesaurus of names could match (flu for influenza, NSCLC
for non-small cell lung cancer) are kept apart in thesaurus.jsonl: the rules
claim no such knowledge, and the bench reports how many of them match without
a target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from worker.bench.corpus import records_dir
from worker.bench.rows import BenchRow, at_least
from worker.bench.scale import Scale
from worker.ingest.studies import summarize
from worker.matching.conditions import normalize_term, study_concepts, term_matches

DATA = Path(__file__).resolve().parent / "data" / "matching"
PRECISION_TARGET = 0.99
RECALL_TARGET = 0.97


@dataclass(frozen=True)
class Pair:
    term: str
    study: str  # NCT id
    match: bool  # what a patient who subscribed with the term would want
    case: str  # what the pair tests (qualifier, negation, body site, ...); "" for plain ones


@dataclass(frozen=True)
class Quality:
    pairs: int
    true_positives: int
    misses: tuple[Pair, ...]  # labelled a match, not matched
    false_positives: tuple[Pair, ...]  # matched, labelled no match

    @property
    def precision(self) -> float:
        found = self.true_positives + len(self.false_positives)
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + len(self.misses)
        return self.true_positives / wanted if wanted else 1.0


def labelled_pairs(name: str = "labelled.jsonl") -> list[Pair]:
    lines = (DATA / name).read_bytes().splitlines()
    rows = [orjson.loads(line) for line in lines if line.strip()]
    return [Pair(row["term"], row["study"], row["match"], row.get("case", "")) for row in rows]


def _records() -> Iterator[dict[str, Any]]:
    """The real records (single studies and search pages), then the written ones."""
    for path in sorted(records_dir().glob("*.json")):
        document = orjson.loads(path.read_bytes())
        yield from document.get("studies") or [document]
    for line in (DATA / "studies.jsonl").read_bytes().splitlines():
        if line.strip():
            yield orjson.loads(line)


@cache
def study_summaries() -> dict[str, dict[str, Any]]:
    """Every labelled study's summary by NCT id, as ingest would store it."""
    summaries = (summarize(record) for record in _records())
    return {summary["nct_id"]: summary for summary in summaries}


def measure(pairs: list[Pair]) -> Quality:
    """Match every pair the way the worker does and compare with the labels."""
    studies = study_summaries()
    unknown = sorted({pair.study for pair in pairs} - studies.keys())
    if unknown:
        raise ValueError(f"labelled pairs name studies with no record: {', '.join(unknown)}")
    hits, misses, false_positives = 0, [], []
    for pair in pairs:
        matched = term_matches(normalize_term(pair.term), study_concepts(studies[pair.study]))
        if matched and pair.match:
            hits += 1
        elif pair.match:
            misses.append(pair)
        elif matched:
            false_positives.append(pair)
    return Quality(len(pairs), hits, tuple(misses), tuple(false_positives))


def _listed(label: str, pairs: tuple[Pair, ...]) -> str:
    if not pairs:
        return f"no {label}"
    named = "; ".join(f"{pair.term!r} / {pair.study}" for pair in pairs)
    return f"{len(pairs)} {label}: {named}"


def quality_rows(scale: Scale) -> list[BenchRow]:
    """Precision and recall rows, each naming its failures; the same at every scale."""
    quality = measure(labelled_pairs())
    about = (
        f"{quality.pairs} labelled (term, study) pairs, worker/bench/data/matching/; "
        f"{quality.true_positives} matched as labelled"
    )
    thesaurus = measure(labelled_pairs("thesaurus.jsonl"))
    wrong = _listed("false positives", quality.false_positives)
    return [
        BenchRow(
            "matching quality: precision", quality.precision, "", None, "",
            at_least(PRECISION_TARGET), f"{about}; {wrong}",
        ),
        BenchRow(
            "matching quality: recall", quality.recall, "", None, "",
            at_least(RECALL_TARGET), f"{about}; {_listed('misses', quality.misses)}",
        ),
        BenchRow(
            "matching quality: thesaurus pairs matched", thesaurus.recall, "", None, "", None,
            "pairs only a thesaurus of names could match, kept out of the target: "
            f"{_listed('misses', thesaurus.misses)}",
        ),
    ]  # fmt: skip
