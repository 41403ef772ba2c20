"""`trialalerts match explain`: an admin sees why a term matches a stored study or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli.test_cli import trialalerts
from tests.support import event, record, write_jsonl


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    """An embedded database holding the NSCLC trial and the uveal melanoma trial."""
    uveal = record("NCT00973089")
    uveal["protocolSection"]["identificationModule"]["nctId"] = "NCT90000201"
    uveal["protocolSection"]["conditionsModule"] = {"conditions": ["Uveal Melanoma"]}
    uveal["derivedSection"] = {
        "conditionBrowseModule": {
            "meshes": [{"id": "D008545", "term": "Melanoma"}],
            "ancestors": [{"id": "D012878", "term": "Skin Neoplasms"}],
        }
    }
    events = [event(record("NCT04267848"), "x1"), event(uveal, "x2")]
    assert trialalerts("publish", str(write_jsonl(tmp_path / "e.jsonl", events)), cwd=tmp_path)
    assert trialalerts("run", "--until-idle", cwd=tmp_path).returncode == 0
    return tmp_path


def test_explain_names_the_matching_concept(stored: Path) -> None:
    done = trialalerts("match", "explain", "Lung Tumours", "nct04267848", cwd=stored)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "term 'Lung Tumours': lung, neoplasm  (index key: lung)" in out
    assert "MeSH term     'Lung Neoplasms': lung, neoplasm  [MATCH]" in out
    assert "'Lung Non-Small Cell Carcinoma': carcinoma, cell, lung, nonsmall  [MATCH]" in out
    assert "+ neoplasm (carcinoma names a neoplasm)" in out
    assert "MeSH ancestor 'Lung Diseases': disease, lung  [missing neoplasm]" in out
    assert "matches: condition 'Lung Non-Small Cell Carcinoma';" in out


def test_explain_says_why_nothing_matches(stored: Path) -> None:
    done = trialalerts("match", "explain", "small cell lung cancer", "NCT04267848", cwd=stored)
    assert done.returncode == 0, done.stderr
    assert "'Lung Neoplasms': lung, neoplasm  [missing cell, small]" in done.stdout
    assert "no match: no single concept holds every word of the term" in done.stdout


def test_explain_shows_the_tables_at_work(stored: Path) -> None:
    done = trialalerts("match", "explain", "skin cancer", "NCT90000201", cwd=stored)
    out = done.stdout
    assert "+ neoplasm (melanoma names a neoplasm)" in out
    assert "- skin (the record places it elsewhere)" in out
    assert "no match" in out


def test_an_unknown_study_is_exit_1_and_an_empty_term_exit_2(stored: Path) -> None:
    unknown = trialalerts("match", "explain", "lung cancer", "NCT00000000", cwd=stored)
    assert unknown.returncode == 1 and "no study NCT00000000" in unknown.stderr
    empty = trialalerts("match", "explain", "the and of", "NCT04267848", cwd=stored)
    assert empty.returncode == 2


def test_explain_says_which_filter_refuses_the_study_given_or_stored(stored: Path) -> None:
    done = trialalerts(
        "match",
        "explain",
        "lung cancer",
        "NCT04267848",
        "--age",
        "17",
        "--phases",
        "phase 3",
        "--near",
        "Anchorage, United States;50",
        cwd=stored,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "  age                17; study: minimum 18 Years, maximum not stated  [REFUSES]" in out
    assert "  phases             PHASE3; study: PHASE3  [pass]" in out
    assert "  near               within 50 km of 61.2181, -149.9; study: nearest site" in out
    assert "no match: the term matches, but the study fails the filters age" in out
    adult = trialalerts("match", "explain", "lung cancer", "NCT04267848", "--age", "30", cwd=stored)
    assert "matches: " in adult.stdout and "[REFUSES]" not in adult.stdout

    # A stored subscription's filters (one run for both cases: the fixture is slow).
    subscriptions = stored / "subs.csv"
    subscriptions.write_text(
        "email,kind,condition,sex,study_types\n"
        "ada@example.org,condition,lung cancer,female,OBSERVATIONAL\n"
    )
    assert trialalerts("subscribers", "import", str(subscriptions), cwd=stored).returncode == 0
    done = trialalerts(
        "match", "explain", "lung cancer", "NCT04267848", "--subscription", "1", cwd=stored
    )
    assert "  study_types        OBSERVATIONAL; study: INTERVENTIONAL  [REFUSES]" in done.stdout
    assert "  sex                female; study: ALL  [pass]" in done.stdout
    unknown = trialalerts(
        "match", "explain", "lung cancer", "NCT04267848", "--subscription", "9", cwd=stored
    )
    assert unknown.returncode == 1 and "no condition subscription 9" in unknown.stderr
    bad = trialalerts("match", "explain", "lung cancer", "NCT04267848", "--age", "200", cwd=stored)
    assert bad.returncode == 2 and "age '200': expected whole years" in bad.stderr
