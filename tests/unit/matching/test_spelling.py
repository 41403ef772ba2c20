"""Spelling folds merge British and American spellings of one word, never two words."""

from __future__ import annotations

import pytest

from worker.matching.concepts import BRITISH_STEMS, american_spelling, canonical_word

BRITISH = [
    ("haemorrhage", "hemorrhage"),
    ("haematology", "hematology"),
    ("haemophilia", "hemophilia"),
    ("ischaemic", "ischemic"),
    ("anaemia", "anemia"),
    ("leukaemia", "leukemia"),
    ("septicaemia", "septicemia"),
    ("hypoglycaemic", "hypoglycemic"),
    ("oesophagus", "esophagus"),
    ("oesophagitis", "esophagitis"),
    ("oedema", "edema"),
    ("lymphoedema", "lymphedema"),
    ("oestrogen", "estrogen"),
    ("foetal", "fetal"),
    ("faecal", "fecal"),
    ("caecum", "cecum"),
    ("caesarean", "cesarean"),
    ("coeliac", "celiac"),
    ("dyspnoea", "dyspnea"),
    ("apnoea", "apnea"),
    ("diarrhoea", "diarrhea"),
    ("gonorrhoea", "gonorrhea"),
    ("gynaecological", "gynecological"),
    ("paediatric", "pediatric"),
    ("orthopaedic", "orthopedic"),
    ("anaesthesia", "anesthesia"),
    ("aetiology", "etiology"),
    ("amoebic", "amebic"),
    ("naevus", "nevus"),
    ("homoeopathy", "homeopathy"),
    ("tumour", "tumor"),
    ("behavioural", "behavioral"),
    ("colour", "color"),
    ("labour", "labor"),
    ("fibre", "fiber"),
]

# Ordinary words spelled with "ae", "oe", "our" or "bre": no fold may touch them.
ORDINARY = [
    "toe", "toes", "shoe", "shoes", "aerosol", "aerobic", "aerial", "aerospace", "canoe",
    "poem", "poet", "poetry", "goes", "does", "oboe", "phoenix", "algae", "doe", "foe", "hoe",
    "coerce", "coexist", "whoever", "maestro", "israel", "michael", "aesthetic", "four",
    "hour", "pour", "tour", "your", "flour", "detour", "contour", "devour", "sour", "journey",
    "course", "source", "courage", "nourish", "breast", "breath", "brain", "vertebra",
    "cerebral", "membrane", "embryo", "fibrosis", "fibroid", "zebra", "umbrella",
]  # fmt: skip


@pytest.mark.parametrize(("british", "american"), BRITISH)
def test_british_spellings_fold_to_american(british: str, american: str) -> None:
    assert american_spelling(british) == american
    assert canonical_word(british) == canonical_word(american)


@pytest.mark.parametrize("word", ORDINARY)
def test_ordinary_words_stay_themselves(word: str) -> None:
    assert american_spelling(word) == word


def test_no_stem_folds_into_another_stem() -> None:
    """A folded stem is never itself a British stem, so one pass reaches the fixed point."""
    americans = [american for _, american in BRITISH_STEMS]
    assert not [(b, a) for b, _ in BRITISH_STEMS for a in americans if b in a]


def test_two_ordinary_words_never_fold_together() -> None:
    folded = {american_spelling(word) for word in ORDINARY}
    assert len(folded) == len(ORDINARY)
