"""Sites near a subscriber: which site changes open a site, the nearest site, which note wins."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import record
from worker.ingest.studies import summarize
from worker.matching.nearby import (
    NEAREST,
    OPENED,
    RECRUITING,
    StudySites,
    opening,
    preferred,
    site_note,
)

BARCELONA = (41.3874, 2.1686)


@pytest.mark.parametrize(
    ("kind", "before", "after", "why"),
    [
        ("site_added", None, "RECRUITING", OPENED),
        ("site_added", None, "NOT_YET_RECRUITING", OPENED),
        ("site_added", None, "", OPENED),  # older records list no site status
        ("site_added", None, None, OPENED),
        ("site_added", None, "WITHDRAWN", None),
        ("site_added", None, "COMPLETED", None),
        ("site_status", "NOT_YET_RECRUITING", "RECRUITING", RECRUITING),
        ("site_status", "SUSPENDED", "RECRUITING", RECRUITING),
        ("site_status", "RECRUITING", "ACTIVE_NOT_RECRUITING", None),
        ("site_removed", "RECRUITING", None, None),
        ("status", "NOT_YET_RECRUITING", "RECRUITING", None),
    ],
)
def test_which_site_changes_open_a_site(kind: str, before: Any, after: Any, why: str) -> None:
    assert opening(kind, before, after) == why


def test_the_nearest_site_within_the_radius_of_a_real_record() -> None:
    sites = StudySites(summarize(record("NCT03475563")))
    site, km = sites.nearest(*BARCELONA, 30) or ({}, 0.0)
    assert (site["city"], round(km, 1)) == ("Barcelona", 0.8)  # Vall d'Hebron, not Sabadell
    assert sites.nearest(40.4168, -3.7038, 50) is None  # Madrid: no site within 50 km
    assert sites.nearest_note(*BARCELONA, 30) == {
        "why": NEAREST,
        "facility": "Hospital Universitari Vall d'Hebron",
        "city": "Barcelona",
        "state": "",
        "country": "Spain",
        "km": 0.8,
    }


def test_sites_without_points_or_odd_summaries_are_never_near() -> None:
    odd = {"sites": [{"city": "Barcelona", "lat": None, "lon": None}, "x", {"lat": True, "lon": 2}]}
    assert StudySites(odd).nearest(*BARCELONA, 100) is None
    assert StudySites(None).nearest(*BARCELONA, 100) is None
    assert StudySites({"sites": "none"}).located("Barcelona") is None


def test_a_site_is_found_by_the_label_ingest_gives_its_changes() -> None:
    sites = StudySites(summarize(record("NCT03475563")))
    found = sites.located("Hospital Universitario de León, León, Spain")
    assert found is not None and found[1] == (42.60003, -5.57032)
    assert sites.located("Nowhere, Spain") is None


def test_an_opened_site_wins_over_a_nearest_one_then_the_nearer() -> None:
    site = {"facility": "H", "city": "C", "country": "Spain"}
    near, far = site_note(NEAREST, site, 1.0), site_note(OPENED, site, 20.0)
    assert preferred(near, far) == far
    assert preferred(far, site_note(RECRUITING, site, 3.04)) == site_note(RECRUITING, site, 3.0)
    assert preferred(None, near) == near and preferred(near, None) == near
