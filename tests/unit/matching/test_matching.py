"""Condition matching: the public matching contract, case by case."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import CTGOV
from worker.ingest.studies import summarize
from worker.matching.concepts import QUALIFIER_MARK, normalize_concept
from worker.matching.conditions import (
    Filters,
    StudyConcepts,
    filters_pass,
    haversine_km,
    index_key,
    normalize_term,
    study_concepts,
    term_matches,
)


@cache
def _record_summary(name: str) -> dict[str, Any]:
    return summarize(json.loads((CTGOV / f"{name}.json").read_text()))


def _study(
    conditions: tuple[str, ...] = (),
    keywords: tuple[str, ...] = (),
    meshes: tuple[str, ...] = (),
    ancestors: tuple[str, ...] = (),
    status: str = "RECRUITING",
    sites: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """A synthetic summary with only what matching reads."""
    return {
        "nct_id": "NCT00000000",
        "title": "",
        "status": status,
        "conditions": list(conditions),
        "keywords": list(keywords),
        "meshes": [{"id": f"D{i}", "term": term} for i, term in enumerate(meshes)],
        "ancestors": [{"id": f"D{100 + i}", "term": term} for i, term in enumerate(ancestors)],
        "sites": list(sites),
    }


def _site(country: str, lat: float | None = None, lon: float | None = None) -> dict[str, Any]:
    site = {"facility": "", "city": "", "state": "", "country": country, "status": "RECRUITING"}
    return site | {"lat": lat, "lon": lon}


def _matches(term: str, summary: dict[str, Any]) -> bool:
    return term_matches(normalize_term(term), study_concepts(summary))


# --- normalization -----------------------------------------------------------------------

NORMALIZED = [
    ("case and punctuation", "Lung  CANCER!", {"lung", "neoplasm"}),
    ("cancer synonyms", "cancer tumor tumour neoplasm neoplasia malignancy", {"neoplasm"}),
    ("plural neoplasms", "Lung Neoplasms", {"lung", "neoplasm"}),
    ("plural injuries", "Brain Injuries", {"brain", "injury"}),
    ("plural diseases", "Heart Diseases", {"heart", "disease"}),
    ("plural carcinomas", "Carcinomas", {"carcinoma"}),
    ("plural tumours", "tumours", {"neoplasm"}),
    ("-sis stays", "Sepsis", {"sepsis"}),
    ("diabetes stays", "Diabetes", {"diabetes"}),
    ("herpes stays", "Herpes Zoster", {"herpes", "zoster"}),
    ("-us stays", "Status Epilepticus", {"status", "epilepticus"}),
    ("-ss stays", "Abscess", {"abscess"}),
    ("-sses", "Abscesses", {"abscess"}),
    ("caries stays", "Caries, Dental", {"caries", "dental"}),
    ("AIDS is not aid", "AIDS", {"aids"}),
    ("-ses to -sis", "metastases psychoses analyses", {"metastasis", "psychosis", "analysis"}),
    ("-oses to -ose", "Opioid Overdoses", {"opioid", "overdose"}),
    ("headaches", "Headaches", {"headache"}),
    ("stop words", "Head and Neck of the Patient with or in for", {"head", "neck", "patient"}),
    ("only stop words is empty", "the and of", set()),
    ("possessive", "Crohn's Disease", {"crohn", "disease"}),
    ("curly possessive and accent", "Sjögren’s Syndrome", {"sjogren", "syndrome"}),
    (
        "british spelling",
        "Oesophageal Leukaemia, Paediatric",
        {"esophagus", "leukemia", "pediatric"},
    ),
    ("letters and digits split", "COVID-19 covid19", {"covid", "19", "covid~19"}),
    ("roman numerals", "Type II Diabetes", {"type", "2", "type~2", "diabetes"}),
    ("a letter qualifies", "Hemophilia A", {"hemophilia", "hemophilia~a"}),
    ("an article does not", "Patients With a Diagnosis", {"patient", "diagnosis"}),
    ("greek letters", "β-Thalassemia", {"beta", "thalassemia"}),
    ("non- glued, hyphens", "Non-Small-Cell", {"nonsmall", "cell"}),
    ("non glued, spaces", "non small cell", {"nonsmall", "cell"}),
    ("non glued, one word", "nonsmall cell", {"nonsmall", "cell"}),
    ("non glued, mixed", "Non-Small Cell Lung Cancer", {"nonsmall", "cell", "lung", "neoplasm"}),
    ("non-hodgkin", "Non-Hodgkin Lymphoma", {"nonhodgkin", "lymphoma"}),
    ("post- glued", "Post-Traumatic Stress Disorders", {"posttraumatic", "stress", "disorder"}),
    (
        "a prefix before a stop word stands alone",
        "pre- and post-operative",
        {"pre", "postoperative"},
    ),
    (
        "carcinoma is not cancer (subscription side)",
        "Oropharyngeal Carcinoma",
        {"oropharynx", "carcinoma"},
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in NORMALIZED], ids=[c[0] for c in NORMALIZED]
)
def test_normalize_term(text: str, expected: set[str]) -> None:
    assert normalize_term(text) == expected


def test_an_empty_term_is_falsy_so_callers_can_reject_it() -> None:
    assert not normalize_term("The and of, with...")
    assert normalize_term("of lungs")


STUDY_SIDE = [
    ("carcinoma", "Oropharyngeal Carcinoma", {"oropharynx", "carcinoma", "neoplasm"}),
    ("adenocarcinoma", "Pancreatic Adenocarcinoma", {"pancreas", "adenocarcinoma", "neoplasm"}),
    ("sarcoma", "Osteosarcoma", {"osteosarcoma", "neoplasm"}),
    ("lymphoma", "Non-Hodgkin Lymphoma", {"nonhodgkin", "lymphoma", "neoplasm"}),
    ("leukaemia", "Acute Myeloid Leukaemia", {"acute", "myeloid", "leukemia", "neoplasm"}),
    ("melanoma", "Ocular Melanoma", {"eye", "melanoma", "neoplasm"}),
    ("melanoma of the skin", "Melanoma", {"melanoma", "neoplasm", "skin"}),
    ("myeloma", "Multiple Myeloma", {"multiple", "myeloma", "neoplasm"}),
    ("glioma", "Glioma", {"glioma", "neoplasm", "brain"}),
    ("blastoma", "Neuroblastoma", {"neuroblastoma", "neoplasm"}),
    ("mesothelioma", "Mesothelioma, Malignant", {"mesothelioma", "malignant", "neoplasm"}),
    ("carcinoid", "Carcinoid Tumor", {"carcinoid", "neoplasm"}),
    ("seminoma", "Seminoma", {"seminoma", "neoplasm"}),
    ("no expansion otherwise", "Brain Injuries", {"brain", "injury"}),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in STUDY_SIDE], ids=[c[0] for c in STUDY_SIDE]
)
def test_study_concepts_count_specific_neoplasms_as_neoplasms(
    text: str, expected: set[str]
) -> None:
    assert normalize_concept(text) == expected


# --- term matching on synthetic studies --------------------------------------------------

OROPHARYNGEAL = _study(
    conditions=("Oropharyngeal Carcinoma",),
    meshes=("Oropharyngeal Neoplasms",),
    ancestors=(
        "Pharyngeal Neoplasms",
        "Otorhinolaryngologic Neoplasms",
        "Head and Neck Neoplasms",
        "Neoplasms by Site",
        "Neoplasms",
    ),
)
HEAD_NECK_MESH = _study(meshes=("Head and Neck Neoplasms",))
SCATTERED = _study(conditions=("Head Injury", "Neck Pain", "Cancer Survivors"))
LUNG_CANCER_ONLY = _study(conditions=("Lung Cancer",))
NON_HODGKIN_ONLY = _study(conditions=("Non-Hodgkin Lymphoma",))
NSCLC_MESH = _study(meshes=("Carcinoma, Non-Small-Cell Lung",))
SCLC_MESH = _study(meshes=("Small Cell Lung Carcinoma",))
TNBC = _study(conditions=("Triple Negative Breast Cancer",))
TITLE_ONLY = _study() | {"title": "Lung Cancer Screening"}
KEYWORD = _study(keywords=("Re-irradiation", "Glioblastomas"))

TERMS = [
    (
        "head and neck cancer / MeSH Head and Neck Neoplasms",
        "head and neck cancer",
        HEAD_NECK_MESH,
        True,
    ),
    (
        "head and neck cancer / oropharyngeal carcinoma via MeSH ancestor",
        "head and neck cancer",
        OROPHARYNGEAL,
        True,
    ),
    (
        "oropharyngeal cancer / condition Oropharyngeal Carcinoma",
        "oropharyngeal cancer",
        _study(conditions=("Oropharyngeal Carcinoma",)),
        True,
    ),
    ("words of different concepts never combine", "head and neck cancer", SCATTERED, False),
    ("one concept suffices", "neck pain", SCATTERED, True),
    ("order-free: inverted MeSH form", "lung cancer", NSCLC_MESH, True),
    ("non-small cell lung cancer / inverted MeSH", "non-small cell lung cancer", NSCLC_MESH, True),
    ("nonsmall spelling", "nonsmall cell lung carcinoma", NSCLC_MESH, True),
    ("small cell is not non-small cell", "small cell lung cancer", NSCLC_MESH, False),
    ("small cell matches small cell", "small cell lung cancer", SCLC_MESH, True),
    ("non-small cell is not small cell", "non small cell lung cancer", SCLC_MESH, False),
    ("carcinoma does not match cancer", "carcinoma", LUNG_CANCER_ONLY, False),
    ("melanoma needs melanoma", "melanoma", LUNG_CANCER_ONLY, False),
    (
        "cancer matches a carcinoma",
        "cancer",
        _study(conditions=("Hepatocellular Carcinoma",)),
        True,
    ),
    ("hodgkin lymphoma is not non-hodgkin", "hodgkin lymphoma", NON_HODGKIN_ONLY, False),
    ("hodgkin's lymphoma is not non-hodgkin", "Hodgkin's Lymphoma", NON_HODGKIN_ONLY, False),
    ("lymphoma matches non-hodgkin lymphoma", "lymphoma", NON_HODGKIN_ONLY, True),
    ("non-hodgkin lymphoma matches itself", "non hodgkin lymphoma", NON_HODGKIN_ONLY, True),
    ("triple negative breast cancer is breast cancer", "breast cancer", TNBC, True),
    ("tumour spelling", "lung tumour", LUNG_CANCER_ONLY, True),
    ("plural subscription", "lung cancers", LUNG_CANCER_ONLY, True),
    ("punctuation and case", "LUNG-CANCER.", LUNG_CANCER_ONLY, True),
    ("titles are not concepts", "lung cancer", TITLE_ONLY, False),
    ("keywords are concepts", "glioblastoma", KEYWORD, True),
    ("hyphenated keyword", "reirradiation", KEYWORD, True),
    ("empty term matches nothing", "the and of", LUNG_CANCER_ONLY, False),
    ("extra word not in the concept", "lung cancer screening", LUNG_CANCER_ONLY, False),
]


@pytest.mark.parametrize(
    ("term", "summary", "expected"), [c[1:] for c in TERMS], ids=[c[0] for c in TERMS]
)
def test_term_matching(term: str, summary: dict[str, Any], expected: bool) -> None:
    assert _matches(term, summary) is expected


# --- term matching on real registry records ----------------------------------------------

RECORDS = [
    ("lung cancer / NSCLC trial", "lung cancer", "NCT04267848", True),
    ("non-small cell lung cancer / NSCLC trial", "non-small cell lung cancer", "NCT04267848", True),
    ("small cell lung cancer / NSCLC trial", "small cell lung cancer", "NCT04267848", False),
    ("head and neck cancer / condition list", "head and neck cancer", "NCT02576665.partial", True),
    ("melanoma / condition list", "melanoma", "NCT02576665.partial", True),
    ("breast cancer / triple negative condition", "breast cancer", "NCT02576665.partial", True),
    (
        "lung cancer / condition Non-Small Cell Lung Cancer",
        "lung cancer",
        "NCT02576665.partial",
        True,
    ),
    (
        "small cell lung cancer / condition Non-Small Cell Lung Cancer",
        "small cell lung cancer",
        "NCT02576665.partial",
        False,
    ),
    (
        "pancreatic colorectal: two conditions",
        "pancreatic colorectal cancer",
        "NCT02576665.partial",
        False,
    ),
    ("brain injury / Brain Injuries", "brain injury", "NCT06171568", True),
    ("coronary artery disease", "coronary artery disease", "NCT03475563", True),
    ("heart disease / ancestor Heart Diseases", "heart disease", "NCT03475563", True),
    ("breast cancer / HR+ breast cancer trial", "breast cancer", "NCT02513394", True),
    (
        "her2 breast cancer / keyword HR+/HER2- breast cancer",
        "HER2 breast cancer",
        "NCT02513394",
        True,
    ),
    ("dental caries / Caries, Dental", "dental caries", "NCT00973089", True),
    ("tooth disease / ancestor Tooth Diseases", "tooth diseases", "NCT00973089", True),
    ("eczema / MeSH term Eczema", "eczema", "NCT02210780", True),
    ("atopic dermatitis / condition", "atopic dermatitis", "NCT02210780", True),
    (
        "atopic eczema: atopic and eczema are in different concepts",
        "atopic eczema",
        "NCT02210780",
        False,
    ),
    ("cancer / atopic dermatitis trial", "cancer", "NCT02210780", False),
]


@pytest.mark.parametrize(
    ("term", "record", "expected"), [c[1:] for c in RECORDS], ids=[c[0] for c in RECORDS]
)
def test_term_matching_on_registry_records(term: str, record: str, expected: bool) -> None:
    assert _matches(term, _record_summary(record)) is expected


# --- filters -----------------------------------------------------------------------------

PAVIA = (45.19, 9.16)
MILAN_SITE = _site("Italy", 45.46, 9.19)
PARIS_SITE_WITHOUT_POINT = _site("France")
EUROPE = _study(conditions=("Lung Cancer",), sites=(MILAN_SITE, PARIS_SITE_WITHOUT_POINT))
NO_SITES = _study(conditions=("Lung Cancer",), status="NOT_YET_RECRUITING")

FILTERS = [
    ("no filters", Filters(), EUROPE, True),
    (
        "status wanted",
        Filters(statuses=frozenset({"RECRUITING", "NOT_YET_RECRUITING"})),
        EUROPE,
        True,
    ),
    ("status not wanted", Filters(statuses=frozenset({"COMPLETED"})), EUROPE, False),
    ("status case-insensitive", Filters(statuses=frozenset({"recruiting"})), EUROPE, True),
    ("country case-insensitive", Filters(countries=frozenset({"italy"})), EUROPE, True),
    ("country written as registry", Filters(countries=frozenset({"Italy"})), EUROPE, True),
    ("one of several countries", Filters(countries=frozenset({"Spain", "France"})), EUROPE, True),
    ("country not among sites", Filters(countries=frozenset({"Spain"})), EUROPE, False),
    ("country with no sites", Filters(countries=frozenset({"Italy"})), NO_SITES, False),
    ("near within radius", Filters(near=(*PAVIA, 50.0)), EUROPE, True),
    ("near outside radius", Filters(near=(*PAVIA, 20.0)), EUROPE, False),
    ("site without geoPoint never near", Filters(near=(48.86, 2.35, 100.0)), EUROPE, False),
    (
        "a site's own status does not matter",
        Filters(countries=frozenset({"Spain"})),
        _study(sites=(_site("Spain") | {"status": "WITHDRAWN"},)),
        True,
    ),
    ("near with no sites", Filters(near=(*PAVIA, 20000.0)), NO_SITES, False),
    (
        "all filters hold",
        Filters(frozenset({"RECRUITING"}), frozenset({"ITALY"}), (*PAVIA, 50.0)),
        EUROPE,
        True,
    ),
    (
        "country from one site, near from another",
        Filters(frozenset({"RECRUITING"}), frozenset({"France"}), (*PAVIA, 50.0)),
        EUROPE,
        True,
    ),
    (
        "status fails while others hold",
        Filters(frozenset({"COMPLETED"}), frozenset({"Italy"}), (*PAVIA, 50.0)),
        EUROPE,
        False,
    ),
    (
        "near fails while others hold",
        Filters(frozenset({"RECRUITING"}), frozenset({"Italy"}), (*PAVIA, 5.0)),
        EUROPE,
        False,
    ),
]


@pytest.mark.parametrize(
    ("filters", "summary", "expected"), [c[1:] for c in FILTERS], ids=[c[0] for c in FILTERS]
)
def test_filters(filters: Filters, summary: dict[str, Any], expected: bool) -> None:
    assert filters_pass(filters, study_concepts(summary)) is expected


NEAR_EDGES = [
    ("across the antimeridian", (0.0, -179.9, 50.0), _site("Fiji", 0.0, 179.9), True),
    ("over the north pole", (89.9, 0.0, 50.0), _site("", 89.9, 180.0), True),
    ("integer coordinates", (45.0, 9.0, 1.0), _site("Italy", 45, 9), True),
    ("booleans are not coordinates", (1.0, 1.0, 1.0), _site("", True, True), False),
]


@pytest.mark.parametrize(
    ("near", "site", "expected"), [c[1:] for c in NEAR_EDGES], ids=[c[0] for c in NEAR_EDGES]
)
def test_near_edge_cases(
    near: tuple[float, float, float], site: dict[str, Any], expected: bool
) -> None:
    study = study_concepts(_study(sites=(site,)))
    assert filters_pass(Filters(near=near), study) is expected


latitudes = st.floats(min_value=-90, max_value=90)
longitudes = st.floats(min_value=-180, max_value=180)


@given(
    center=st.tuples(latitudes, longitudes),
    km=st.floats(min_value=0.001, max_value=25000),
    points=st.lists(st.tuples(latitudes, longitudes), max_size=30),
)
def test_near_agrees_with_checking_every_site(
    center: tuple[float, float], km: float, points: list[tuple[float, float]]
) -> None:
    study = study_concepts(_study(sites=tuple(_site("", lat, lon) for lat, lon in points)))
    expected = any(haversine_km(*center, lat, lon) <= km for lat, lon in points)
    assert filters_pass(Filters(near=(*center, km)), study) is expected


def _matching(
    candidates: list[tuple[str, frozenset[str], Filters]], study: StudyConcepts
) -> list[str]:
    """The keys of the candidates whose term and filters the study both satisfies."""
    return [
        key
        for key, words, filters in candidates
        if term_matches(words, study) and filters_pass(filters, study)
    ]


def test_a_match_needs_the_term_and_the_filters() -> None:
    study = study_concepts(EUROPE)
    lung, italy, spain = (
        normalize_term("lung cancer"),
        Filters(countries=frozenset({"Italy"})),
        (Filters(countries=frozenset({"Spain"}))),
    )
    candidates = [
        ("lung cancer in Italy", lung, italy),
        ("lung cancer in Spain", lung, spain),
        ("melanoma in Italy", normalize_term("melanoma"), italy),
    ]
    assert _matching(candidates, study) == ["lung cancer in Italy"]


def test_filters_on_a_study_with_1148_sites() -> None:
    study = study_concepts(_record_summary("NCT04267848"))
    anchorage = (61.21806, -149.90028)
    assert len(study.points) == 1144  # four sites have no geoPoint
    assert filters_pass(Filters(countries=frozenset({"guam"})), study)
    assert not filters_pass(Filters(countries=frozenset({"Italy"})), study)
    assert filters_pass(Filters(near=(*anchorage, 10.0)), study)
    assert not filters_pass(Filters(near=(0.0, 0.0, 1000.0)), study)


@pytest.mark.parametrize(
    "near",
    [(91.0, 0.0, 10.0), (0.0, 181.0, 10.0), (0.0, 0.0, 0.0), (0.0, 0.0, float("nan"))],
    ids=["latitude", "longitude", "zero radius", "nan radius"],
)
def test_near_out_of_range_is_rejected(near: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        Filters(near=near)


def test_a_single_string_is_not_a_set_of_countries() -> None:
    with pytest.raises(TypeError):
        Filters(countries="Italy")  # type: ignore[arg-type]


def test_haversine_paris_london() -> None:
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, rel=0.01)
    assert haversine_km(45.0, 9.0, 45.0, 9.0) == 0.0


# --- study concepts and the candidate index ------------------------------------------------


def test_study_concepts_collect_conditions_keywords_meshes_and_ancestors() -> None:
    study = study_concepts(
        _study(
            conditions=("Lung Cancer",),
            keywords=("lung cancers",),
            meshes=("Lung Neoplasms",),
            ancestors=("Neoplasms",),
            sites=(_site(" ITALY "), _site("")),
        )
    )
    assert study.concepts == (frozenset({"lung", "neoplasm"}), frozenset({"neoplasm"}))
    assert study.words == {"lung", "neoplasm"}
    assert study.countries == {"italy"}
    assert study.points == ()


def test_study_words_include_the_neoplasm_expansion() -> None:
    words = study_concepts(_study(conditions=("Oropharyngeal Carcinoma",))).words
    assert words == {"oropharynx", "carcinoma", "neoplasm"}


INDEX_KEYS = [
    ("specific over generic", "lung cancer", "lung"),
    ("specific over disease", "heart disease", "heart"),
    ("longest specific word", "coronary artery disease", "coronary"),
    ("common words after specific ones", "hodgkin lymphoma", "hodgkin"),
    ("numbers last", "type 2 diabetes", "diabetes"),
    ("single generic word", "cancer", "neoplasm"),
    ("glued compound", "non-small cell lung cancer", "nonsmall"),
]


@pytest.mark.parametrize(
    ("term", "expected"), [c[1:] for c in INDEX_KEYS], ids=[c[0] for c in INDEX_KEYS]
)
def test_index_key(term: str, expected: str) -> None:
    assert index_key(normalize_term(term)) == expected


def test_an_empty_term_has_no_index_key() -> None:
    with pytest.raises(ValueError):
        index_key(frozenset())


def test_a_mesh_heading_and_its_plain_words_match_alike() -> None:
    study = study_concepts(EUROPE)
    italy = Filters(countries=frozenset({"Italy"}))
    candidates = [
        ("a", normalize_term("lung cancer"), Filters()),
        ("b", normalize_term("melanoma"), Filters()),
        ("c", normalize_term("lung cancer"), Filters(countries=frozenset({"Spain"}))),
        ("d", normalize_term("Lung Neoplasms"), italy),
        ("e", normalize_term("lung cancer"), italy),
    ]
    assert _matching(candidates, study) == ["a", "d", "e"]


# --- properties ----------------------------------------------------------------------------

VOCABULARY = [
    "lung",
    "Lungs",
    "cancer",
    "carcinoma",
    "Adenocarcinoma",
    "tumour",
    "Neoplasms",
    "non",
    "Non-",
    "small",
    "cell",
    "head",
    "and",
    "neck",
    "of",
    "the",
    "injuries",
    "brain",
    "Disease",
    "type",
    "II",
    "2",
    "melanoma",
    "leukaemia",
    "Hodgkin",
    "Non-Hodgkin",
    "lymphoma",
    "breast",
    "triple",
    "negative",
    "sepsis",
    "diabetes",
    "caries",
    "Crohn's",
    "β",
    "COVID-19",
    "post",
    "anti",
    "oesophageal",
    "metastases",
]
SEPARATORS = [" ", "-", ", ", "/", " (", ") "]
phrases = st.lists(
    st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(SEPARATORS)), min_size=1, max_size=6
).map(lambda parts: "".join(word + sep for word, sep in parts))
summaries = st.builds(
    lambda conditions, keywords, meshes, ancestors: _study(
        tuple(conditions), tuple(keywords), tuple(meshes), tuple(ancestors)
    ),
    st.lists(phrases, max_size=4),
    st.lists(phrases, max_size=3),
    st.lists(phrases, max_size=3),
    st.lists(phrases, max_size=5),
)


@settings(max_examples=300)
@given(term=phrases, summary=summaries)
def test_a_match_implies_the_index_key_is_a_study_word(term: str, summary: dict[str, Any]) -> None:
    words = normalize_term(term)
    if _matches(term, summary):
        assert index_key(words) in study_concepts(summary).words


@given(summary=summaries, data=st.data())
def test_a_subset_of_one_concept_always_matches(
    summary: dict[str, Any], data: st.DataObject
) -> None:
    study = study_concepts(summary)
    concepts = [c for c in study.concepts if c]
    if concepts:
        concept = data.draw(st.sampled_from(concepts))
        words = frozenset(data.draw(st.sets(st.sampled_from(sorted(concept)), min_size=1)))
        assert term_matches(words, study)
        assert index_key(words) in study.words


@given(st.text())
def test_a_study_matches_a_subscription_copying_its_condition(text: str) -> None:
    words = normalize_term(text)
    assert words <= normalize_concept(text)
    assert _matches(text, _study(conditions=(text,))) is bool(words)


@given(st.text())
def test_normalized_words_are_stable(text: str) -> None:
    for word in normalize_term(text):
        if QUALIFIER_MARK in word:  # a compound also gives back its two parts
            name, _, qualifier = word.partition(QUALIFIER_MARK)
            assert word in normalize_term(word) <= {word, name, qualifier}
        else:
            assert normalize_term(word) == {word}


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_normalization_ignores_case(text: str) -> None:
    assert normalize_term(text.upper()) == normalize_term(text.lower())


@given(st.text(), st.text())
def test_matching_never_raises_on_arbitrary_text(term: str, condition: str) -> None:
    study = study_concepts(_study(conditions=(condition,), keywords=(term,)))
    assert isinstance(study, StudyConcepts)
    assert term_matches(normalize_term(term), study) in (True, False)
