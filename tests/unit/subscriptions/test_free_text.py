"""A condition is a disease name: nothing in it may work as a link, an address or a number."""

from __future__ import annotations

import pytest

from worker.subscriptions.free_text import disease_name

DISEASE_NAMES = [
    "Lung cancer",
    "Non-Small Cell Lung Cancer",
    "head and neck cancer",
    "HIV/AIDS",
    "COVID-19",
    "SARS-CoV-2 infection",
    "Type 1 diabetes",
    "Hemophilia A",
    "BRCA1/2 mutation",
    "HER2+ breast cancer",
    "22q11.2 deletion syndrome",
    "ICD-10 C50.9",
    "H. pylori infection",
    "St. John's disease",
    "Sjögren's syndrome",
    "Behçet's disease",
    "α1-antitrypsin deficiency",
    "β-thalassemia",
    "46,XY disorder of sex development",
    "t(15;17) acute promyelocytic leukemia",
    "IDH1 Mutated or MGMT Methylated Recurrent HGG (Not Recruiting)",
]

NOT_DISEASE_NAMES = {
    "asthma. ACTION REQUIRED verify at https://evil.example/login": "web address",
    "asthma hxxps://evil": "web address",
    "asthma evil.example/login": "web address",
    "asthma www.evil.com": "web address",
    "asthma paypal.com": "web address",
    "asthma evil。example": "web address",  # an ideographic full stop is a dot to IDNA
    "asthma ｅｖｉｌ．ｅｘａｍｐｌｅ": "web address",
    "asthma 203.0.113.7/login": "web address",
    "asthma write to help@evil.example": "email address",
    "asthma help＠evil": "email address",
    "asthma call +1 (555) 010-0199": "phone number",
    "asthma call 0800 123 456": "phone number",
    "asthma\u202eelpmaxe": "invisible",  # right-to-left override
    "asth\u200bma": "invisible",  # zero-width space
    "asthma\u2066x\u2069": "invisible",
    "asthma\x1b[31m": "invisible",
    "asthma\u00ad": "invisible",  # soft hyphen
    "asthma " + "word " * 20: "longer than 100",
}


@pytest.mark.parametrize("name", DISEASE_NAMES)
def test_disease_names_pass_unchanged(name: str) -> None:
    assert disease_name(name) == name


def test_spaces_collapse() -> None:
    assert disease_name("  lung \t\u00a0 cancer ") == "lung cancer"


@pytest.mark.parametrize(("text", "reason"), NOT_DISEASE_NAMES.items())
def test_links_addresses_numbers_and_invisible_characters_are_refused(
    text: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        disease_name(text)
