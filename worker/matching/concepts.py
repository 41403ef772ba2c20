"""Concept normalization: the words a condition name stands for, order-free.

A subscriber writes "lung cancer", the registry writes "Carcinoma, Non-Small-Cell
Lung" or "Lung Neoplasms".  Both sides become a frozenset of canonical words and
a subscription matches when its set is a subset of one concept's set.  The
rules, applied in this order (both sides unless said otherwise):

1. Text: Unicode compatibility form, case folded, accents dropped, Greek letters
   spelled out (β → beta), possessive 's dropped (Crohn's → crohn).
2. Words are runs of letters or digits; letters and digits split apart
   (COVID-19, covid19 and "covid 19" all give covid + 19).
3. Prefix glue: a prefix standing alone (non, anti, pre, post, re, co) is glued to the
   next word, so "non-small cell", "Non-Small-Cell", "non small cell" and
   "nonsmall cell" all give nonsmall + cell and never a free "small".  Likewise
   non-Hodgkin → nonhodgkin, which "hodgkin" does not match.
4. Qualifiers keep their meaning: a single letter, a number or a Roman numeral
   right after a word is part of that word's name, so "Hemophilia A" also gives
   hemophilia~a (not hemophilia~b), "vitamin a" gives vitamin~a (not vitamin~d)
   and "type 1" gives type~1.  The plain words stay too: "hemophilia" still
   matches either.  This happens before stop words are dropped, so the "a" of
   "hepatitis a" is not lost as the article "a".
   Stop words (and, of, the, with, in, or, for, ...) are then dropped.
5. Roman numerals i-iv become digits ("type II" = "type 2").
6. Plurals fold (neoplasms → neoplasm, injuries → injury, metastases →
   metastasis) while -ss/-us/-is words and known invariants (diabetes, herpes,
   caries, AIDS, ...) stay.
7. British spellings fold (ae → e, oe → e, -our → -or): leukaemia = leukemia,
   oesophageal = esophageal.
8. cancer, tumor, tumour, neoplasia, malignancy and neoplasm are one word,
   `neoplasm`.  On the study side only, a word naming a specific neoplasm
   (carcinoma, sarcoma, lymphoma, leukemia, melanoma, *blastoma, ...) also adds
   `neoplasm`; a subscription "carcinoma" therefore needs a carcinoma.

The result may be empty (a term made only of stop words): callers must reject
an empty subscription term.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

NEOPLASM = "neoplasm"

_NEOPLASM_SYNONYMS = frozenset(
    {"cancer", "tumor", "tumour", "neoplasm", "neoplasia", "malignancy", "neoplasma"}
)
# Study-side words ending with one of these name a neoplasm and also count as one.
_NEOPLASM_SUFFIXES = (
    "carcinoma",
    "sarcoma",
    "lymphoma",
    "leukemia",
    "melanoma",
    "myeloma",
    "glioma",
    "blastoma",
    "mesothelioma",
    "carcinoid",
    "seminoma",
    "thymoma",
    "astrocytoma",
    "ependymoma",
    "meningioma",
    "chordoma",
    "germinoma",
    "hepatoma",
    "teratoma",
    "paraganglioma",
    "pheochromocytoma",
)
STOP_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "its", "of", "on", "or"}
    | {"the", "their", "to", "via", "with"}
)
GLUE_PREFIXES = frozenset({"non", "anti", "pre", "post", "re", "co"})
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "κ": "kappa", "λ": "lambda"}

# Words ending in s that are not plurals.
_INVARIANT = frozenset(
    {"aids", "ards", "sars", "mers", "diabetes", "herpes", "caries", "rabies", "scabies"}
    | {"measles", "mumps", "rickets", "series", "species", "feces", "faeces", "pubes"}
    | {"pancreas", "biceps", "triceps", "forceps", "lues", "ascites", "ethics", "news"}
)
_IRREGULAR = {
    "metastases": "metastasis",
    "testes": "testis",
    "crises": "crisis",
    "teeth": "tooth",
    "feet": "foot",
    "children": "child",
    "women": "woman",
    "men": "man",
    "mice": "mouse",
    "lice": "louse",
    "vertebrae": "vertebra",
    "sequelae": "sequela",
    "larvae": "larva",
    "fungi": "fungus",
    "bronchi": "bronchus",
    "thrombi": "thrombus",
    "emboli": "embolus",
    "calculi": "calculus",
    "nuclei": "nucleus",
    "bacilli": "bacillus",
    "nevi": "nevus",
    "naevi": "naevus",
    "bacteria": "bacterium",
    "criteria": "criterion",
    "indices": "index",
    "appendices": "appendix",
    "cervices": "cervix",
    "apices": "apex",
    "phalanges": "phalanx",
    "carcinomata": "carcinoma",
}
# -oses that are plurals of -ose, not of -osis.
_OSE_PLURALS = frozenset(
    {"overdoses", "underdoses", "purposes", "glucoses", "lactoses", "fructoses", "sucroses"}
    | {"proposes", "supposes", "composes", "disposes", "exposes", "opposes"}
)

_POSSESSIVE = re.compile(r"(?<=\w)['’`]s\b")
_APOSTROPHE = re.compile(r"['’`]")
_WORD = re.compile(r"[^\W\d_]+|\d+")


def _fold_text(text: str) -> str:
    """Compatibility form, case folded, accents dropped: one spelling per word."""
    if text.isascii():
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
        text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
        for letter, name in _GREEK.items():
            if letter in text:
                text = text.replace(letter, f" {name} ")
    if "'" in text or "’" in text or "`" in text:
        text = _APOSTROPHE.sub("", _POSSESSIVE.sub("", text))
    return text


def _glued(tokens: list[str]) -> list[str]:
    """Glue a free-standing prefix onto the word after it (non small → nonsmall)."""
    words: list[str] = []
    carry = ""
    for token in tokens:
        if token in GLUE_PREFIXES:
            carry += token
            continue
        if carry and token in STOP_WORDS:  # "pre- and post-operative": pre stands alone
            words.append(carry)
        else:
            token = carry + token
        words.append(token)
        carry = ""
    if carry:
        words.append(carry)
    return words


def singular(word: str) -> str:
    """The singular of a plural word; any other word unchanged."""
    if len(word) <= 3 or word in _INVARIANT:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("viruses"):
        return word[:-2]
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("iases"):
        return word[:-2] + "is"
    if word.endswith("yses") or word.endswith("heses"):
        return word[:-2] + "is"
    if word.endswith("oses") and len(word) >= 8 and word not in _OSE_PLURALS:
        return word[:-2] + "is"
    if word.endswith(("xes", "shes")):
        return word[:-2]
    if word.endswith("ches"):
        aches = word.endswith("aches") and not word.endswith(("oaches", "eaches"))
        return word[:-1] if aches else word[:-2]
    return word[:-1]


def _british(word: str) -> str:
    """leukaemia → leukemia, oesophagus → esophagus, behaviour → behavior."""
    if "ae" in word or "oe" in word:
        word = word.replace("ae", "e").replace("oe", "e")
    if len(word) >= 6 and word.endswith("our"):
        word = word[:-3] + "or"
    return word


@lru_cache(maxsize=65536)
def canonical_word(word: str) -> str:
    """One word's canonical form ("" for a stop word); stable when applied twice."""
    for _ in range(8):  # a fixed point is reached in two or three rounds
        if word in STOP_WORDS:
            return ""
        folded = _british(singular(_ROMAN.get(word, word)))
        folded = NEOPLASM if folded in _NEOPLASM_SYNONYMS else folded
        if folded == word:
            break
        word = folded
    return word


QUALIFIER_MARK = "~"


def _qualifier(token: str) -> str:
    """The qualifier a token stands for ("a", "1", "ii" → "2"), or "" when it is a word."""
    if token in _ROMAN:
        return _ROMAN[token]
    return token if len(token) == 1 or token.isdigit() else ""


def _qualified(tokens: list[str]) -> list[str]:
    """Each word followed by a qualifier also as one compound word (hemophilia a → hemophilia~a)."""
    compounds = []
    for word, after in zip(tokens, tokens[1:], strict=False):
        qualifier = _qualifier(after)
        if qualifier and not _qualifier(word) and (name := canonical_word(word)):
            compounds.append(name + QUALIFIER_MARK + qualifier)
    return compounds


@lru_cache(maxsize=65536)
def normalize_term(text: str) -> frozenset[str]:
    """Canonical words of a subscription term; empty when nothing meaningful is left."""
    tokens = _glued(_WORD.findall(_fold_text(text)))
    words = [canonical_word(token) for token in tokens]
    return frozenset(word for word in words if word) | frozenset(_qualified(tokens))


def names_neoplasm(word: str) -> bool:
    """A carcinoma, sarcoma, lymphoma... is a neoplasm (study side only)."""
    return word.endswith(_NEOPLASM_SUFFIXES)


@lru_cache(maxsize=65536)
def normalize_concept(text: str) -> frozenset[str]:
    """Canonical words of a study concept, with the study-side neoplasm expansion."""
    words = normalize_term(text)
    if NEOPLASM not in words and any(names_neoplasm(word) for word in words):
        return words | {NEOPLASM}
    return words
