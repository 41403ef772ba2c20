"""Rendered digests, byte for byte: the MIME message, its plain text and its HTML.

Each case goes through what the sender runs (`build_digest`, then
`digest_message`) from hand-written notifications, so the files under
golden/ pin the whole output: grouping and wording, both templates with their
inlined CSS, the token in every link, the headers and the base64 bodies.  Only
the multipart boundary, which is random, is replaced by a fixed one.

A change of wording or layout that is meant shows up here as a diff of the
.txt and .html files; write the new files with
TRIALALERTS_UPDATE_GOLDEN=1 pytest tests/unit/digests/test_golden_digests.py
and read the diff before committing it.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from worker.core.config import Settings
from worker.digests.digest import PendingNotification, SubscriptionRef, build_digest
from worker.digests.mime import digest_message

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TRIALALERTS_UPDATE_GOLDEN") == "1"
SETTINGS = Settings(
    secret_keys=("golden-key-0123456789abcdef", "older-golden-key-0123456789"),
    base_url="https://alerts.example.org",
    mail_from="Trialalerts <alerts@mail.example.org>",
    postal_address="Trialalerts, 1 Example Street, 00000 Example City",
)
NOW = datetime(2026, 6, 27, 8, 0, tzinfo=UTC)
CREATED = NOW - timedelta(hours=3)
SUBSCRIBER = {
    "id": 4242,
    "email": "Ada Lovelace <ada@example.com>",
    "link_key": "ada-link-key-0000000000",
}

LUNG = SubscriptionRef(11, "condition", "lung cancer")
NSCLC = SubscriptionRef(12, "condition", "NSCLC")
HEART = SubscriptionRef(13, "condition", "coronary artery disease")

PHASE_2 = {
    "phases": ["PHASE2"],
    "study_type": "INTERVENTIONAL",
    "eligibility": {
        "minimumAge": "18 Years",
        "maximumAge": "75 Years",
        "sex": "ALL",
        "healthyVolunteers": False,
    },
    "status_verified": "2026-05",
}
PHASE_1_2_CHILDREN = {
    "phases": ["PHASE2", "PHASE1"],
    "study_type": "INTERVENTIONAL",
    "eligibility": {"minimumAge": "6 Months", "maximumAge": "17 Years", "sex": "FEMALE"},
    "status_verified": "2023-02-14",  # over a year before NOW: said to be stale
}
NOT_STATED = {
    "phases": ["PHASE3"],
    "study_type": "INTERVENTIONAL",
    "eligibility": {},
    "status_verified": "2026-06-01",
}
OBSERVATIONAL = {
    "phases": [],
    "study_type": "OBSERVATIONAL",
    "eligibility": {"minimumAge": "65 Years", "sex": "MALE", "healthyVolunteers": True},
    "status_verified": "2025-11",
}


def near(why: str, facility: str, city: str, country: str, km: float) -> dict[str, Any]:
    """A site note as matching writes it (worker/matching/nearby.py SiteNote)."""
    return {
        "why": why,
        "facility": facility,
        "city": city,
        "state": "",
        "country": country,
        "km": km,
    }


def notification(
    number: int,
    nct_id: str,
    title: str,
    kind: str,
    refs: tuple[SubscriptionRef, ...],
    *,
    status: str = "RECRUITING",
    field: str | None = None,
    before: Any = None,
    after: Any = None,
    facts: dict[str, Any] | None = None,
    near_site: dict[str, Any] | None = None,
) -> PendingNotification:
    return PendingNotification(
        id=number,
        nct_id=nct_id,
        title=title,
        status=status,
        kind=kind,
        field=field,
        before=before,
        after=after,
        subscriptions=refs,
        created_at=CREATED,
        facts=facts,
        near_site=near_site,
    )


def several_subscriptions() -> list[PendingNotification]:
    """Two condition alerts and two follows: new studies, updates, near notes, stale status."""
    follow_a = SubscriptionRef(21, "study", "NCT06171568")
    follow_b = SubscriptionRef(22, "study", "NCT02210780")
    return [
        notification(
            1,
            "NCT04267848",
            "Durvalumab & Tremelimumab <Before> Surgery in Non-Small Cell Lung Cancer",
            "new_study",
            (LUNG, NSCLC),
            facts=PHASE_2,
            near_site=near(
                "nearest", "Mayo Clinic in Rochester", "Rochester", "United States", 4.24
            ),
        ),
        notification(
            2,
            "NCT02576665",
            "A Study of Pembrolizumab in Participants With Lung Cancer",
            "status",
            (LUNG,),
            status="TERMINATED",
            field="overallStatus",
            before="RECRUITING",
            after="TERMINATED",
            facts=NOT_STATED,
        ),
        notification(
            3,
            "NCT02576665",
            "A Study of Pembrolizumab in Participants With Lung Cancer",
            "site_removed",
            (LUNG,),
            status="TERMINATED",
            field="Sarah Cannon Research Institute, Nashville, United States",
            before="RECRUITING",
            facts=NOT_STATED,
        ),
        notification(
            4,
            "NCT03475563",
            "Ticagrelor Après Pontage Coronarien — Étude Française",
            "site_added",
            (HEART,),
            field="Hospital del Mar, Barcelona, Spain",
            after="RECRUITING",
            facts=OBSERVATIONAL,
            near_site=near("opened", "Hospital del Mar", "Barcelona", "Spain", 2.1),
        ),
        notification(
            5,
            "NCT00973089",
            "Pediatric Study of a Long Title " + "Word " * 80,
            "eligibility",
            (HEART,),
            status="NOT_YET_RECRUITING",
            field="minimumAge",
            before="12 Years",
            after="6 Months",
            facts=PHASE_1_2_CHILDREN,
        ),
        notification(
            6,
            "NCT06171568",
            "Radiotherapy Study Followed by the Subscriber",
            "site_added",
            (follow_a,),
            field="Hôpital Lariboisière, Paris, France",
            after="RECRUITING",
            facts=PHASE_2,
        ),
        notification(
            7,
            "NCT06171568",
            "Radiotherapy Study Followed by the Subscriber",
            "dates",
            (follow_a,),
            field="start",
            before={"date": "2024-01-01", "type": "ESTIMATED"},
            after={"date": "2024-03-01", "type": "ACTUAL"},
            facts=PHASE_2,
        ),
        notification(
            8,
            "NCT02210780",
            "Completed Study With Results",
            "results_posted",
            (follow_b,),
            status="COMPLETED",
            field="hasResults",
            before=False,
            after=True,
            facts=NOT_STATED,
        ),
        notification(
            9,
            "NCT02513394",
            "Enrollment Grows in This Trial",
            "enrollment",
            (NSCLC,),
            field="count",
            before=40,
            after=100,
            facts=PHASE_2,
        ),
    ]


def monthly_follow() -> list[PendingNotification]:
    """One follow: results posted, a status change, more site changes than a study shows."""
    follow = SubscriptionRef(31, "study", "NCT02210780")
    notes = [
        notification(
            1,
            "NCT02210780",
            "A Long Running Study",
            "results_posted",
            (follow,),
            status="ACTIVE_NOT_RECRUITING",
            field="hasResults",
            before=False,
            after=True,
            facts=OBSERVATIONAL,
        ),
        notification(
            2,
            "NCT02210780",
            "A Long Running Study",
            "status",
            (follow,),
            status="ACTIVE_NOT_RECRUITING",
            field="overallStatus",
            before="RECRUITING",
            after="ACTIVE_NOT_RECRUITING",
            facts=OBSERVATIONAL,
        ),
    ]
    for number in range(7):
        notes.append(
            notification(
                10 + number,
                "NCT02210780",
                "A Long Running Study",
                "site_status",
                (follow,),
                status="ACTIVE_NOT_RECRUITING",
                field=f"Site {number}, Town {number}, Country",
                before="RECRUITING",
                after="COMPLETED",
                facts=OBSERVATIONAL,
            )
        )
    return notes


def capped_weekly() -> list[PendingNotification]:
    """More new studies than the cap: the section says how many more, with a search link."""
    return [
        notification(
            number,
            f"NCT0{number:07d}",
            f"Study number {number} of head & neck cancer",
            "new_study",
            (SubscriptionRef(41, "condition", "head and neck  cancer"),),
            facts=PHASE_2 if number % 2 else None,
            near_site=near("nearest", "Site", "Lyon", "France", 12.0 + number)
            if number % 3
            else None,
        )
        for number in range(1, 9)
    ]


def hostile_instant() -> list[PendingNotification]:
    """Data trying to break out of its place: markup, header breaks, non-Latin text."""
    nasty = "<script>alert(1)</script>\r\nBcc: victim@example.com\n\t" + "Ω中ع" * 5
    return [
        notification(
            1,
            "NCT09999999",
            nasty,
            "title",
            (SubscriptionRef(51, "condition", nasty),),
            field="briefTitle",
            before="Old & <b>bold</b>",
            after=nasty,
            facts={"phases": ["EARLY_PHASE1"], "eligibility": {"sex": "ALL"}},
        )
    ]


CASES: dict[str, tuple[str, Callable[[], list[PendingNotification]], int]] = {
    # name: (frequency, notifications, item cap)
    "daily-several-subscriptions": ("daily", several_subscriptions, 25),
    "monthly-follow": ("monthly", monthly_follow, 25),
    "weekly-capped": ("weekly", capped_weekly, 5),
    "instant-hostile": ("instant", hostile_instant, 25),
}


def message(name: str) -> bytes:
    frequency, notifications, cap = CASES[name]
    digest = build_digest(frequency, notifications(), cap)
    assert digest is not None
    raw = digest_message(SETTINGS, SUBSCRIBER, digest, NOW, f"<golden-{name}@mail.example.org>")
    (boundary,) = set(re.findall(rb'boundary="([^"]+)"', raw))
    return raw.replace(boundary, b"=_golden-boundary")


def parts(raw: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    text, html = (part.get_content() for part in parsed.iter_parts())  # type: ignore[attr-defined]
    return text, html


def check(path: Path, content: bytes) -> None:
    if UPDATE:
        path.write_bytes(content)
    assert path.exists(), f"{path.name} is missing: write it with TRIALALERTS_UPDATE_GOLDEN=1"
    assert content == path.read_bytes(), f"{path.name} differs from the rendered digest"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_text_part_is_unchanged(name: str) -> None:
    check(GOLDEN / f"{name}.txt", parts(message(name))[0].encode("utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_html_part_is_unchanged(name: str) -> None:
    check(GOLDEN / f"{name}.html", parts(message(name))[1].encode("utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_whole_message_is_unchanged(name: str) -> None:
    check(GOLDEN / f"{name}.eml", message(name))


def test_the_cases_show_what_they_are_named_for() -> None:
    """The golden files hold what they are meant to pin, so an edit cannot empty them quietly."""
    text = {name: parts(message(name))[0] for name in CASES}
    several = text["daily-several-subscriptions"]
    for wanted in (
        "New studies for lung cancer",
        "New studies for NSCLC",
        "New studies and sites near you for coronary artery disease",
        "Updates to studies you follow",
        "Nearest site: Mayo Clinic in Rochester",
        "A site opened near you: Hospital del Mar",
        "Who can join: eligibility not stated",
        "Status last verified",
        "Results posted",
        "Matched: lung cancer, NSCLC",
    ):
        assert wanted in several
    assert "Your monthly digest" in text["monthly-follow"]
    assert "more site changes" in text["monthly-follow"]
    assert "And 3 more: https://clinicaltrials.gov/search?cond=" in text["weekly-capped"]
    assert "<script>" in text["instant-hostile"]
    assert "&lt;script&gt;" in parts(message("instant-hostile"))[1]
