"""Body sites: the curated tables matching reads a site from, each entry with its source.

Medicine names most organs twice, with a noun (kidney) and an adjective from
Latin or Greek (renal), and MeSH files the two under one heading: "Renal
Neoplasms" is an entry term of Kidney Neoplasms.  `SITES` says which words
are one site; normalization writes each as the noun, on both sides.  Only
words that name nothing but their organ are listed: "cervical" (neck or
cervix), "spinal" (spine or spinal cord) and "dental" (tooth or dentistry)
are left alone.

`IMPLIED` is read on the study side only, like the neoplasm family: a word
that names its usual site also counts for that site.  A glioblastoma study is
a brain tumour study, but a subscription "glioblastoma" still needs a
glioblastoma.  `unless` lists words that, anywhere in the study's own terms,
say the site is another (a uveal melanoma is no skin cancer).  A part names
its whole (a uveal melanoma is an eye cancer).  A region (colorectal) covers
its parts in the study's own terms only: as a MeSH
ancestor, "Colorectal Neoplasms" says that a rectal cancer study is a
colorectal one, not that it is about the colon.

The sources cite MeSH descriptors (https://meshb.nlm.nih.gov/record/ui?ui=ID).
Words are written here as a subscriber would type them; the normalizer
folds them like any other word (worker/matching/concepts.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    """One body site: its noun and the other words for the same organ (mostly adjectives)."""

    noun: str
    names: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Implied:
    """On the study side, `word` also counts for `sites` (with its reason)."""

    word: str
    sites: tuple[str, ...]
    source: str
    unless: tuple[str, ...] = ()  # words in the study's own terms that cancel it
    on_ancestors: bool = True  # False: a region, read in the study's own terms only


SITES: tuple[Site, ...] = (
    Site("mouth", ("oral",), "MeSH D009062 Mouth Neoplasms, entry term 'Oral Neoplasms'"),
    Site("tongue", ("lingual",), "MeSH D014059 Tongue (Latin lingua: lingual, of the tongue)"),
    Site("kidney", ("renal",), "MeSH D007680 Kidney Neoplasms, entry term 'Renal Neoplasms'"),
    Site("liver", ("hepatic",), "MeSH D008113 Liver Neoplasms, entry term 'Hepatic Neoplasms'"),
    Site("stomach", ("gastric",), "MeSH D013274 Stomach Neoplasms, entry term 'Gastric Neoplasms'"),
    Site("lung", ("pulmonary",), "MeSH D008175 Lung Neoplasms, entry term 'Pulmonary Neoplasms'"),
    Site("colon", ("colonic",), "MeSH D003110 Colonic Neoplasms, entry term 'Colon Neoplasms'"),
    Site("rectum", ("rectal",), "MeSH D012004 Rectal Neoplasms, entry term 'Rectum Neoplasms'"),
    Site(
        "skin",
        ("cutaneous",),
        "MeSH D012867 Skin (Latin cutis: cutaneous, of the skin), "
        "as in D016410 Lymphoma, T-Cell, Cutaneous",
    ),
    Site("brain", ("cerebral",), "MeSH D001929 Brain Edema, entry term 'Cerebral Edema'"),
    Site("ovary", ("ovarian",), "MeSH D010051 Ovarian Neoplasms, entry term 'Ovary Neoplasms'"),
    Site(
        "pancreas",
        ("pancreatic",),
        "MeSH D010190 Pancreatic Neoplasms, entry term 'Pancreas Neoplasms'",
    ),
    Site(
        "prostate",
        ("prostatic",),
        "MeSH D011471 Prostatic Neoplasms, entry term 'Prostate Neoplasms'",
    ),
    Site(
        "esophagus",
        ("esophageal",),
        "MeSH D004938 Esophageal Neoplasms, entry term 'Esophagus Neoplasms'",
    ),
    Site(
        "larynx", ("laryngeal",), "MeSH D007822 Laryngeal Neoplasms, entry term 'Larynx Neoplasms'"
    ),
    Site(
        "pharynx",
        ("pharyngeal",),
        "MeSH D010610 Pharyngeal Neoplasms, entry term 'Pharynx Neoplasms'",
    ),
    Site(
        "oropharynx",
        ("oropharyngeal",),
        "MeSH D009959 Oropharyngeal Neoplasms, entry term 'Oropharynx Neoplasms'",
    ),
    Site(
        "nasopharynx",
        ("nasopharyngeal",),
        "MeSH D009303 Nasopharyngeal Neoplasms, entry term 'Nasopharynx Neoplasms'",
    ),
    Site("heart", ("cardiac",), "MeSH D006323 Heart Arrest, entry term 'Cardiac Arrest'"),
    Site(
        "breast",
        ("mammary",),
        "MeSH D001943 Breast Neoplasms, entry term 'Mammary Neoplasms, Human'",
    ),
    Site("uterus", ("uterine",), "MeSH D014594 Uterine Neoplasms, entry term 'Uterus Neoplasms'"),
    Site(
        "testis",
        ("testicular",),
        "MeSH D013736 Testicular Neoplasms, entry term 'Testis Neoplasms'",
    ),
    Site("anus", ("anal",), "MeSH D001005 Anus Neoplasms, entry term 'Anal Neoplasms'"),
    Site(
        "intestine",
        ("intestinal", "bowel"),
        "MeSH D007414 Intestinal Neoplasms; D007422 Intestines, entry term 'Bowel'",
    ),
    Site("eye", ("ocular",), "MeSH D005123 Eye (Latin oculus: ocular, of the eye)"),
    Site("bronchus", ("bronchial",), "MeSH D001984 Bronchial Neoplasms; D001980 Bronchi"),
)

_UVEAL_MUCOSAL = (
    "uveal", "uvea", "ocular", "intraocular", "eye", "choroidal", "choroid", "conjunctival",
    "mucosal", "mucosa", "vulvar", "vaginal", "anorectal", "sinonasal",
)  # fmt: skip

IMPLIED: tuple[Implied, ...] = (
    Implied(
        "colorectal",
        ("colon", "rectum"),
        "MeSH D015179 Colorectal Neoplasms: 'tumors or cancer of the colon or the rectum or both'",
        on_ancestors=False,
    ),
    Implied(
        "uveal",
        ("eye",),
        "MeSH D014602 Uvea: 'the pigmented vascular coat of the eyeball' (under D005123 Eye)",
    ),
    Implied(
        "glioma",
        ("brain",),
        "MeSH D005910 Glioma: 'central nervous system neoplasms derived from glial cells'",
    ),
    Implied(
        "glioblastoma",
        ("brain",),
        "MeSH D005909 Glioblastoma, a malignant astrocytoma (D001254), under D005910 Glioma",
    ),
    Implied(
        "astrocytoma",
        ("brain",),
        "MeSH D001254 Astrocytoma, under D005910 Glioma ('astrocytes may give rise to "
        "astrocytomas')",
    ),
    Implied(
        "oligodendroglioma",
        ("brain",),
        "MeSH D009837 Oligodendroglioma, under D005910 Glioma",
    ),
    Implied(
        "medulloblastoma",
        ("brain",),
        "MeSH D008527 Medulloblastoma, under D005910 Glioma; arises in the cerebellum",
    ),
    Implied(
        "hepatocellular",
        ("liver",),
        "MeSH D006528 Carcinoma, Hepatocellular: 'a primary malignant neoplasm of epithelial "
        "liver cells'",
    ),
    Implied(
        "hepatoma",
        ("liver",),
        "MeSH D006528 Carcinoma, Hepatocellular, entry term 'Hepatoma'",
    ),
    Implied(
        "hypernephroma",
        ("kidney",),
        "MeSH D002292 Carcinoma, Renal Cell ('carcinoma derived from cells of the kidneys'), "
        "entry term 'Hypernephroma'",
    ),
    Implied(
        "melanoma",
        ("skin",),
        "MeSH D008545 Melanoma: 'may occur in the skin of any part of the body, in the eye, or, "
        "rarely, in the mucous membranes'",
        unless=_UVEAL_MUCOSAL,
    ),
)
