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
7. British spellings fold by a list of known stems (haem → hem, oesophag →
   esophag, tumour → tumor, ...): leukaemia = leukemia, paediatric =
   pediatric.  A list, not a rule: "ae" and "oe" also spell toe, shoe,
   aerosol and canoe, which must stay themselves.
8. cancer, tumor, tumour, neoplasia, malignancy and neoplasm are one word,
   `neoplasm`.  A body-site adjective is its organ's noun (renal → kidney,
   gastric → stomach; the cited table is worker/matching/anatomy.py).
9. On the study side only, a word naming a specific neoplasm (carcinoma,
   sarcoma, lymphoma, leukemia, melanoma, *blastoma, ...) also adds
   `neoplasm`, and a histology naming its usual site adds that site
   (glioblastoma → brain, hepatocellular → liver; colorectal → colon and
   rectum).  A subscription "carcinoma" therefore needs a carcinoma, and
   "glioma" a glioma.

The result may be empty (a term made only of stop words): callers must reject
an empty subscription term.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from worker.matching.anatomy import IMPLIED, SITES, Implied

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


# British stem → American stem, found anywhere in a word.  Each stem occurs only
# in medical words (tests/unit/matching/test_spelling.py holds ordinary words
# with "ae", "oe" and "our" that must stay as they are).
BRITISH_STEMS = (
    ("haem", "hem"),  # haemorrhage, haematology, ischaemia
    ("aemi", "emi"),  # anaemia, leukaemia, septicaemia, glycaemic
    ("oesophag", "esophag"),
    ("oedem", "edem"),  # oedema, lymphoedema
    ("oestr", "estr"),  # oestrogen, oestradiol
    ("foet", "fet"),
    ("faec", "fec"),
    ("caec", "cec"),
    ("caesar", "cesar"),
    ("coeliac", "celiac"),
    ("pnoe", "pne"),  # dyspnoea, apnoea
    ("rrhoe", "rrhe"),  # diarrhoea, gonorrhoea, amenorrhoea
    ("gynaec", "gynec"),
    ("paed", "ped"),  # paediatric, orthopaedic
    ("anaesth", "anesth"),
    ("aetiol", "etiol"),
    ("amoeb", "ameb"),
    ("naev", "nev"),
    ("homoeo", "homeo"),
    ("tumour", "tumor"),
    ("behaviour", "behavior"),
    ("colour", "color"),
    ("labour", "labor"),
    ("odour", "odor"),
    ("humour", "humor"),
    ("vapour", "vapor"),
    ("rigour", "rigor"),
    ("fibre", "fiber"),
)


def american_spelling(word: str) -> str:
    """leukaemia → leukemia, oesophagus → esophagus, behaviour → behavior; toe stays toe."""
    if "ae" in word or "oe" in word or "our" in word or "bre" in word:
        for british, american in BRITISH_STEMS:
            if british in word:
                word = word.replace(british, american)
    return word


# A body-site adjective → its organ's noun (worker/matching/anatomy.py).
_SITE_NOUNS = {name: site.noun for site in SITES for name in site.names}


@lru_cache(maxsize=65536)
def canonical_word(word: str) -> str:
    """One word's canonical form ("" for a stop word); stable when applied twice."""
    for _ in range(8):  # a fixed point is reached in two or three rounds
        if word in STOP_WORDS:
            return ""
        folded = american_spelling(singular(_ROMAN.get(word, word)))
        folded = NEOPLASM if folded in _NEOPLASM_SYNONYMS else folded
        folded = _SITE_NOUNS.get(folded, folded)
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


def _canonical_all(words: Iterable[str]) -> frozenset[str]:
    return frozenset(canonical_word(word) for word in words) - {""}


@dataclass(frozen=True)
class _Implication:
    """An `anatomy.Implied` entry in canonical words."""

    sites: frozenset[str]
    unless: frozenset[str]
    reason: str
    on_ancestors: bool


def _implication(entry: Implied) -> _Implication:
    return _Implication(
        _canonical_all(entry.sites), _canonical_all(entry.unless), entry.source, entry.on_ancestors
    )


_IMPLIED = {canonical_word(entry.word): _implication(entry) for entry in IMPLIED}
_IMPLYING = frozenset(_IMPLIED)
# Words whose site the rest of the study can cancel (a uveal melanoma).
_CONDITIONAL = frozenset(word for word, implied in _IMPLIED.items() if implied.unless)


def implied_words(words: frozenset[str], ancestor: bool = False) -> dict[str, str]:
    """Words a study concept also counts as, each with its reason (study side only)."""
    added: dict[str, str] = {}
    if NEOPLASM not in words:
        named = sorted(word for word in words if names_neoplasm(word))
        if named:
            added[NEOPLASM] = f"{named[0]} names a neoplasm"
    for word in sorted(words & _IMPLYING):
        implied = _IMPLIED[word]
        if (ancestor and not implied.on_ancestors) or not words.isdisjoint(implied.unless):
            continue
        for site in sorted(implied.sites - words):
            added.setdefault(site, f"{word}: {implied.reason}")
    return added


@lru_cache(maxsize=65536)
def normalize_concept(text: str) -> frozenset[str]:
    """Canonical words of a study's own concept (condition, keyword, MeSH term), expanded."""
    words = normalize_term(text)
    added = implied_words(words)
    return words | frozenset(added) if added else words


@lru_cache(maxsize=65536)
def normalize_ancestor(text: str) -> frozenset[str]:
    """Canonical words of a MeSH ancestor: expanded like a concept, but no region (colorectal)."""
    words = normalize_term(text)
    added = implied_words(words, ancestor=True)
    return words | frozenset(added) if added else words


def placed_elsewhere(own: Iterable[str], concepts: Iterable[frozenset[str]]) -> frozenset[str]:
    """Sites the study's own terms say its histology is not at (empty almost always).

    "Uveal Melanoma" in a record: its melanoma is not a skin cancer, so no
    concept of the study counts as skin, neither by `implied_words` nor by the
    MeSH tree (which files Melanoma under Skin Neoplasms), unless one of the
    study's own terms names the skin itself.  `concepts` are the normalized
    own terms, checked first so that most studies cost one set test each.
    """
    if all(_CONDITIONAL.isdisjoint(concept) for concept in concepts):
        return frozenset()
    bare = [normalize_term(text) for text in own]
    named = frozenset().union(*bare)
    cancelled: set[str] = set()
    for word in named & _CONDITIONAL:
        implied = _IMPLIED[word]
        if not named.isdisjoint(implied.unless):
            cancelled |= implied.sites - named
    return frozenset(cancelled)
