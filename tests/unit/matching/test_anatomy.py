"""Body sites: adjective and noun are one word; a histology counts for its usual site."""

from __future__ import annotations

import re
from typing import Any

import pytest

from worker.matching.anatomy import IMPLIED, SITES
from worker.matching.concepts import canonical_word, normalize_term
from worker.matching.conditions import study_concepts, term_matches

MESH_ID = re.compile(r"\bMeSH D\d{6}\b")


@pytest.mark.parametrize("site", SITES, ids=[site.noun for site in SITES])
def test_each_site_adjective_is_its_noun(site: Any) -> None:
    assert canonical_word(site.noun) == site.noun
    for name in site.names:
        assert canonical_word(name) == site.noun


@pytest.mark.parametrize("entry", [*SITES, *IMPLIED], ids=lambda entry: repr(entry)[:40])
def test_each_entry_cites_a_mesh_descriptor(entry: Any) -> None:
    assert MESH_ID.search(entry.source), entry


def test_implied_words_are_not_folded_away() -> None:
    for entry in IMPLIED:
        assert canonical_word(entry.word) == entry.word
        assert all(canonical_word(site) == site for site in entry.sites)


SAME = [
    ("renal cell carcinoma", "kidney cell carcinoma"),
    ("gastric cancer", "stomach cancer"),
    ("hepatic metastases", "liver metastasis"),
    ("pulmonary embolism", "lung embolism"),
    ("oral mucositis", "mouth mucositis"),
    ("oesophageal cancer", "esophagus cancer"),
    ("ovarian cysts", "ovary cyst"),
    ("bowel cancer", "intestinal neoplasm"),
    ("ocular hypertension", "eye hypertension"),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_adjective_and_noun_normalize_alike(one: str, other: str) -> None:
    assert normalize_term(one) == normalize_term(other)


def _study(
    conditions: tuple[str, ...] = (),
    meshes: tuple[str, ...] = (),
    ancestors: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "conditions": list(conditions),
        "keywords": [],
        "meshes": [{"id": "", "term": term} for term in meshes],
        "ancestors": [{"id": "", "term": term} for term in ancestors],
    }


BPH = _study(
    ("Benign Prostatic Hyperplasia",),
    ("Prostatic Hyperplasia", "Hyperplasia"),
    ("Prostatic Diseases", "Genital Diseases, Male", "Pathologic Processes"),
)
COLORECTAL = _study(("Colorectal Cancer",), ("Colorectal Neoplasms",))
RECTAL = _study(
    ("Rectal Cancer",),
    ("Rectal Neoplasms",),
    ("Colorectal Neoplasms", "Intestinal Neoplasms", "Neoplasms by Site", "Neoplasms"),
)
MELANOMA_MESH = ("Melanoma",)
MELANOMA_ANCESTORS = ("Nevi and Melanomas", "Skin Neoplasms", "Skin Diseases", "Neoplasms")
UVEAL = _study(("Uveal Melanoma",), (*MELANOMA_MESH, "Uveal Neoplasms"), MELANOMA_ANCESTORS)
CUTANEOUS = _study(("Melanoma (Skin)",), MELANOMA_MESH, MELANOMA_ANCESTORS)
BASKET = _study(("Cutaneous Melanoma", "Uveal Melanoma"), MELANOMA_MESH, MELANOMA_ANCESTORS)
GLIOBLASTOMA = _study(("Glioblastoma",), ("Glioblastoma",), ("Astrocytoma", "Glioma"))
BRAIN_METASTASES = _study(("Brain Metastases",), ("Brain Neoplasms",))
HCC = _study(("HCC", "Hepatocellular Carcinoma"))
OCULAR = _study(("Ocular Melanoma",), MELANOMA_MESH, MELANOMA_ANCESTORS)

CASES = [
    ("a body site, written as adjective", "kidney cancer", _study(("Renal Cell Carcinoma",)), True),
    ("prostate cancer is not BPH", "prostate cancer", BPH, False),
    ("BPH finds BPH", "benign prostatic hyperplasia", BPH, True),
    ("colorectal covers the colon", "colon cancer", COLORECTAL, True),
    ("colorectal covers the rectum", "rectal cancer", COLORECTAL, True),
    ("a rectal study is not about the colon", "colon cancer", RECTAL, False),
    ("a rectal study is colorectal", "colorectal cancer", RECTAL, True),
    ("glioblastoma is a brain tumour", "brain tumor", GLIOBLASTOMA, True),
    ("a glioma subscription needs a glioma", "glioma", BRAIN_METASTASES, False),
    ("hepatocellular carcinoma is liver cancer", "liver cancer", HCC, True),
    ("melanoma is a skin cancer", "skin cancer", CUTANEOUS, True),
    ("a uveal melanoma is not", "skin cancer", UVEAL, False),
    ("nor is an ocular one", "skin cancer", OCULAR, False),
    ("nor a mucosal one", "skin cancer", _study(("Mucosal Melanoma of the Head and Neck",)), False),
    ("a uveal melanoma is still a melanoma", "melanoma", UVEAL, True),
    ("and an eye cancer", "eye cancer", _study(("Uveal Melanoma",)), True),
    ("one skin melanoma among them suffices", "skin cancer", BASKET, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("term", "summary", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_body_site_matching(term: str, summary: dict[str, Any], expected: bool) -> None:
    assert term_matches(normalize_term(term), study_concepts(summary)) is expected
