"""Digest grouping: one item per study, sections per subscription, human change lines, caps."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support import CTGOV
from worker.digests.digest import (
    Digest,
    PendingNotification,
    SubscriptionRef,
    build_digest,
    change_lines,
    status_label,
    subject_line,
)

LUNG = SubscriptionRef(3, "condition", "lung cancer")
NSCLC = SubscriptionRef(5, "condition", "NSCLC")
HEAD_NECK = SubscriptionRef(7, "condition", "head and neck cancer")
CREATED = datetime(2026, 6, 27, 9, tzinfo=UTC)


def ctgov_dir() -> Path:
    return CTGOV


@cache
def ctgov_record(nct_id: str) -> dict[str, Any]:
    return json.loads((ctgov_dir() / f"{nct_id}.json").read_text(encoding="utf-8"))


def follow(sub_id: int, nct_id: str) -> SubscriptionRef:
    return SubscriptionRef(sub_id, "study", nct_id)


def note(
    note_id: int,
    nct_id: str,
    kind: str = "status",
    field: str | None = "overallStatus",
    before: Any = "NOT_YET_RECRUITING",
    after: Any = "RECRUITING",
    subs: tuple[SubscriptionRef, ...] = (LUNG,),
    title: str = "A study",
    status: str = "RECRUITING",
) -> PendingNotification:
    return PendingNotification(
        note_id, nct_id, title, status, kind, field, before, after, subs, CREATED
    )


def new_study(note_id: int, nct_id: str, *subs: SubscriptionRef, title: str = "A study") -> Any:
    headline = {"title": title, "status": "RECRUITING"}
    return note(note_id, nct_id, "new_study", None, None, headline, subs, title=title)


def only(digest: Digest | None) -> Any:
    assert digest is not None
    [section] = digest.sections
    [item] = section.items
    return section, item


# --- grouping --------------------------------------------------------------------------


def test_nothing_pending_builds_no_digest() -> None:
    assert build_digest("daily", []) is None


def test_a_study_matched_by_several_subscriptions_appears_once_naming_them_all() -> None:
    nct = "NCT04267848"
    notes = [
        new_study(11, nct, NSCLC, title="Immunotherapy for lung cancer"),
        new_study(12, nct, LUNG, title="Immunotherapy for lung cancer"),
        note(13, nct, subs=(follow(9, nct),), title="Immunotherapy for lung cancer"),
        note(14, nct, subs=(LUNG, NSCLC), title="Immunotherapy for lung cancer"),
    ]
    digest = build_digest("daily", notes)
    section, item = only(digest)
    assert section.kind == "condition"
    assert section.heading == "New studies for lung cancer"  # the lowest subscription id
    assert section.subscription_ids == (3,)
    assert item.matched_by == ("lung cancer", "NSCLC", nct)
    assert item.is_new
    assert item.changes == ("Status: Not yet recruiting → Recruiting",)
    assert item.url == "https://clinicaltrials.gov/study/NCT04267848"
    assert item.status == "Recruiting"
    assert digest is not None
    assert digest.notification_ids == (11, 12, 13, 14)
    assert (digest.item_count, digest.total_count, digest.new_count) == (1, 1, 1)


def test_studies_found_only_by_follows_go_to_the_follow_section() -> None:
    notes = [
        note(1, "NCT00000002", subs=(follow(21, "NCT00000002"),)),
        note(2, "NCT00000001", subs=(follow(20, "NCT00000001"),)),
        new_study(3, "NCT00000009", HEAD_NECK),
    ]
    digest = build_digest("weekly", notes)
    assert digest is not None
    assert digest.frequency == "weekly"
    condition, followed = digest.sections
    assert condition.heading == "New studies for head and neck cancer"
    assert condition.more_url == "https://clinicaltrials.gov/search?cond=head%20and%20neck%20cancer"
    assert followed.kind == "study"
    assert followed.heading == "Updates to studies you follow"
    assert followed.subscription_ids == (20, 21)
    assert followed.more_url is None
    assert [item.nct_id for item in followed.items] == ["NCT00000001", "NCT00000002"]


def test_sections_are_ordered_by_subscription_id_then_follows() -> None:
    notes = [
        note(1, "NCT00000001", subs=(follow(1, "NCT00000001"),)),
        new_study(2, "NCT00000002", HEAD_NECK),
        new_study(3, "NCT00000003", NSCLC),
        new_study(4, "NCT00000004", LUNG),
    ]
    digest = build_digest("daily", notes)
    assert digest is not None
    assert [s.subscription_ids for s in digest.sections] == [(3,), (5,), (7,), (1,)]


def test_items_list_new_studies_first_then_by_nct_id() -> None:
    notes = [
        note(1, "NCT00000001"),
        new_study(2, "NCT00000005", LUNG),
        note(3, "NCT00000003"),
        new_study(4, "NCT00000004", LUNG),
    ]
    digest = build_digest("daily", notes)
    assert digest is not None
    [section] = digest.sections
    ids = [item.nct_id for item in section.items]
    assert ids == ["NCT00000004", "NCT00000005", "NCT00000001", "NCT00000003"]


def test_the_digest_does_not_depend_on_input_order() -> None:
    notes = [new_study(i, f"NCT{i % 7:08d}", LUNG if i % 2 else NSCLC) for i in range(1, 30)]
    notes += [
        note(100 + i, f"NCT{i:08d}", "site_added", f"Site {i}", None, "RECRUITING")
        for i in range(10)
    ]
    shuffled = notes[:]
    random.Random(4).shuffle(shuffled)
    assert build_digest("daily", shuffled) == build_digest("daily", notes)


def test_the_newest_title_and_status_describe_the_study() -> None:
    notes = [
        note(2, "NCT00000001", title="New title", status="COMPLETED"),
        note(1, "NCT00000001", title="Old title", status="RECRUITING"),
    ]
    _, item = only(build_digest("daily", notes))
    assert (item.title, item.status) == ("New title", "Completed")


def test_a_missing_title_falls_back_to_the_recorded_headline_then_the_nct_id() -> None:
    recorded = note(1, "NCT00000001", "new_study", None, None, {"title": "Recorded", "status": ""})
    _, item = only(build_digest("daily", [replace(recorded, title="")]))
    assert item.title == "Recorded"
    _, bare = only(build_digest("daily", [note(1, "NCT00000002", title="")]))
    assert bare.title == "NCT00000002"


def test_a_removed_study_says_so_and_is_not_new() -> None:
    gone = note(1, "NCT00973089", "removed", None, {"title": "Gone", "status": "WITHDRAWN"}, None)
    _, item = only(build_digest("instant", [gone]))
    assert not item.is_new
    assert item.changes == ("Study removed from the registry",)


# --- the item cap ----------------------------------------------------------------------


def _many(sub: SubscriptionRef, start: int, count: int) -> list[PendingNotification]:
    return [new_study(start + i, f"NCT{start + i:08d}", sub) for i in range(count)]


def test_the_cap_keeps_the_first_items_in_section_order_and_counts_the_rest() -> None:
    nct_follow = [
        note(500 + i, f"NCT{500 + i:08d}", subs=(follow(90, f"NCT{500 + i:08d}"),))
        for i in range(5)
    ]
    notes = _many(LUNG, 100, 10) + _many(NSCLC, 200, 10) + _many(HEAD_NECK, 300, 10) + nct_follow
    digest = build_digest("daily", notes)
    assert digest is not None
    assert [(len(s.items), s.more) for s in digest.sections] == [(10, 0), (10, 0), (5, 5), (0, 5)]
    assert (digest.item_count, digest.total_count) == (25, 35)
    assert len(digest.notification_ids) == 35  # capped notifications are consumed too
    assert digest.sections[2].more_url == (
        "https://clinicaltrials.gov/search?cond=head%20and%20neck%20cancer"
    )


def test_a_small_cap_can_leave_later_sections_with_only_a_count() -> None:
    notes = _many(LUNG, 100, 10) + _many(NSCLC, 200, 4)
    digest = build_digest("daily", notes, cap=3)
    assert digest is not None
    assert [(len(s.items), s.more) for s in digest.sections] == [(3, 7), (0, 4)]
    assert digest.item_count == 3


# --- change lines ----------------------------------------------------------------------

CNAO = "Fondazione CNAO, Pavia, Italy"


@pytest.mark.parametrize(
    ("kind", "field", "before", "after", "lines"),
    [
        ("new_study", None, None, {"title": "T", "status": "RECRUITING"}, []),
        ("removed", None, {"title": "T", "status": "RECRUITING"}, None,
         ["Study removed from the registry"]),
        ("status", "overallStatus", "NOT_YET_RECRUITING", "RECRUITING",
         ["Status: Not yet recruiting → Recruiting"]),
        ("site_added", CNAO, None, "RECRUITING", [f"New site: {CNAO} (Recruiting)"]),
        ("site_added", CNAO, None, "", [f"New site: {CNAO}"]),
        ("site_removed", CNAO, "RECRUITING", None, [f"Site closed: {CNAO}"]),
        ("site_status", CNAO, "NOT_YET_RECRUITING", "RECRUITING",
         [f"Site {CNAO}: Not yet recruiting → Recruiting"]),
        ("eligibility", "criteria", "Inclusion: adults\n" * 50, "Inclusion: all",
         ["Eligibility criteria changed"]),
        ("eligibility", "sex", "ALL", "FEMALE", ["Sex: All → Female"]),
        ("eligibility", "minimumAge", "18 Years", "16 Years", ["Minimum age: 18 Years → 16 Years"]),
        ("eligibility", "maximumAge", "", "75 Years", ["Maximum age: not set → 75 Years"]),
        ("eligibility", "healthyVolunteers", False, True, ["Accepts healthy volunteers: No → Yes"]),
        ("eligibility", "stdAges", ["ADULT"], ["ADULT", "OLDER_ADULT"],
         ["Age groups: Adult → Adult, Older adult"]),
        ("enrollment", "count", 120, 240, ["Enrollment: 120 → 240"]),
        ("enrollment", "type", "ESTIMATED", "ACTUAL", ["Enrollment type: Estimated → Actual"]),
        ("dates", "start", {"date": "2026-01-01", "type": "ESTIMATED"},
         {"date": "2026-02-01", "type": "ACTUAL"},
         ["Start date: 2026-01-01 (estimated) → 2026-02-01 (actual)"]),
        ("dates", "primary_completion", None, {"date": "2028-12", "type": "ESTIMATED"},
         ["Primary completion date: not set → 2028-12 (estimated)"]),
        ("dates", "completion", {"date": "2029-01-31", "type": None}, None,
         ["Completion date: 2029-01-31 → not set"]),
        ("results_posted", "hasResults", False, True, ["Results posted"]),
        ("title", "briefTitle", "Old", "New", ["Title: Old → New"]),
        ("conditions", "conditions", ["X", "Y"], ["X", "Z"], ["Conditions: added Z; removed Y"]),
        ("conditions", "conditions", ["X"], ["X", "Z"], ["Conditions: added Z"]),
    ],
)  # fmt: skip
def test_change_lines_speak_human(
    kind: str, field: str | None, before: Any, after: Any, lines: list[str]
) -> None:
    assert change_lines(kind, field, before, after) == lines


@pytest.mark.parametrize(
    ("kind", "field", "before", "after"),
    [
        ("status", "overallStatus", None, None),
        ("status", "overallStatus", 3, ["RECRUITING"]),
        ("site_added", None, None, {"odd": True}),
        ("site_status", 42, object(), None),
        ("eligibility", "sex", {"a": 1}, 7.5),
        ("eligibility", None, None, None),
        ("enrollment", "count", "many", None),
        ("dates", "start", "2026-01-01", ["not", "a", "dict"]),
        ("dates", None, {"date": None}, {"type": "ACTUAL"}),
        ("conditions", "conditions", "a string", None),
        ("conditions", "conditions", ["same"], ["same"]),
        ("title", "briefTitle", None, {"nested": ["x"]}),
        ("results_posted", None, None, None),
        ("lastUpdate", "lastUpdateSubmitDate", "2026-01-01", "2026-02-01"),
        (None, None, None, None),
        (["weird"], {"weird": 1}, b"\x00", float("nan")),
    ],
)
def test_odd_change_data_gives_a_line_never_an_error(
    kind: Any, field: Any, before: Any, after: Any
) -> None:
    lines = change_lines(kind, field, before, after)
    assert lines and all(isinstance(line, str) and line for line in lines)
    assert all("\n" not in line for line in lines)


def test_kept_change_lines_tell_equal_values_of_other_types_apart() -> None:
    """Lines are kept per change: True and 1 (equal in Python) still read as themselves."""
    field = "healthyVolunteers"
    assert change_lines("eligibility", field, True, False) == [
        "Accepts healthy volunteers: Yes → No"
    ]
    assert change_lines("eligibility", field, 1, 0) == ["Accepts healthy volunteers: 1 → 0"]
    assert change_lines("enrollment", "count", 0.0, 1) == ["Enrollment: 0.0 → 1"]
    assert change_lines("enrollment", "count", -0.0, 1) == ["Enrollment: -0.0 → 1"]
    lines = change_lines("status", "overallStatus", "RECRUITING", "COMPLETED")
    lines.append("changed by a caller")
    assert change_lines("status", "overallStatus", "RECRUITING", "COMPLETED") == [
        "Status: Recruiting → Completed"
    ]


def test_unknown_kinds_read_as_a_generic_change() -> None:
    assert change_lines("lastUpdate", "lastUpdateSubmitDate", 1, 2) == [
        "Last update submit date changed"
    ]
    assert change_lines(None, None, None, None) == ["Study details changed"]


def test_a_formatter_that_trips_over_its_data_falls_back_to_a_generic_line() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert change_lines("enrollment", "count", Hostile(), 5) == ["Enrollment changed"]
    assert change_lines("site_added", Hostile(), None, "RECRUITING") == ["New site"]


def test_changes_merge_dedupe_and_follow_a_stable_kind_order() -> None:
    nct = "NCT00000001"
    notes = [
        note(1, nct, "site_added", CNAO, None, "RECRUITING"),
        note(2, nct, "enrollment", "count", 120, 240),
        note(3, nct, "status", "overallStatus", "NOT_YET_RECRUITING", "RECRUITING"),
        note(4, nct, "status", "overallStatus", "NOT_YET_RECRUITING", "RECRUITING"),
        note(5, nct, "results_posted", "hasResults", False, True),
    ]
    _, item = only(build_digest("daily", notes))
    assert item.changes == (
        "Results posted",  # first: what a follower waits for
        "Status: Not yet recruiting → Recruiting",
        "Enrollment: 120 → 240",
        f"New site: {CNAO} (Recruiting)",
    )


def test_hundreds_of_site_changes_collapse_to_a_few_lines_and_a_count() -> None:
    record = ctgov_record("NCT04267848")
    locations = record["protocolSection"]["contactsLocationsModule"]["locations"]
    assert len(locations) == 1148
    labels = list(
        dict.fromkeys(
            ", ".join(p for p in (loc.get("facility"), loc.get("city"), loc.get("country")) if p)
            for loc in locations
        )
    )[:300]
    nct = "NCT04267848"
    notes = [note(1, nct, subs=(follow(1, nct),))]
    notes += [
        note(10 + i, nct, "site_added", label, None, "RECRUITING", (follow(1, nct),))
        for i, label in enumerate(labels)
    ]
    _, item = only(build_digest("daily", notes))
    assert item.changes[0] == "Status: Not yet recruiting → Recruiting"
    assert item.changes[1:6] == tuple(f"New site: {label} (Recruiting)" for label in labels[:5])
    assert item.changes[6:] == (f"and {len(labels) - 5} more site changes",)


def test_many_kinds_of_change_are_capped_per_item() -> None:
    nct = "NCT00000001"
    notes = [
        note(i, nct, "dates", f"d{i}", None, {"date": f"2026-01-{i:02d}"}) for i in range(1, 11)
    ]
    _, item = only(build_digest("daily", notes))
    assert len(item.changes) == 9
    assert item.changes[-1] == "and 2 more changes"


# --- labels and subjects ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("RECRUITING", "Recruiting"),
        ("NOT_YET_RECRUITING", "Not yet recruiting"),
        ("ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
        ("ENROLLING_BY_INVITATION", "Enrolling by invitation"),
        ("COMPLETED", "Completed"),
        ("WITHDRAWN", "Withdrawn"),
        ("UNKNOWN", "Unknown status"),
        ("SOME_FUTURE_STATUS", "Some Future Status"),
        ("", ""),
        (None, ""),
        (7, "7"),
    ],
)
def test_status_labels(status: Any, label: str) -> None:
    assert status_label(status) == label


@pytest.mark.parametrize(
    ("new", "updates", "subject"),
    [
        (3, 2, "3 new studies and 2 updates for your clinical trial alerts"),
        (1, 0, "1 new study for your clinical trial alerts"),
        (0, 1, "1 update for your clinical trial alerts"),
    ],
)
def test_subject_lines_count_new_studies_and_updates(new: int, updates: int, subject: str) -> None:
    notes = [new_study(i, f"NCT{i:08d}", LUNG) for i in range(new)]
    notes += [note(100 + i, f"NCT{100 + i:08d}") for i in range(updates)]
    digest = build_digest("daily", notes, cap=1)
    assert digest is not None
    assert subject_line(digest) == subject


HOSTILE_TITLES = [
    "<script>alert('x')</script> & friends",
    "Line one\r\nBcc: victim@example.org\nline three",
    "A" * 5000,
    "肺癌免疫治疗研究 — исследование рака лёгкого — سرطان الرئة",
    "\u2028separator\x00nul\x85next",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_reach_the_item_unchanged_but_never_the_subject(title: str) -> None:
    notes = [new_study(1, "NCT00000001", LUNG, title=title), note(2, "NCT00000002", title=title)]
    digest = build_digest("instant", notes)
    assert digest is not None
    assert [item.title for item in digest.sections[0].items] == [title, title]
    subject = subject_line(digest)
    assert len(subject) <= 120
    assert subject == " ".join(subject.split()) and subject.isprintable()


def test_hostile_subscription_labels_give_one_line_headings_and_encoded_urls() -> None:
    odd = SubscriptionRef(1, "condition", "lung\r\ncancer&x=<b>")
    digest = build_digest("daily", [new_study(1, "NCT00000001", odd)])
    section, item = only(digest)
    assert section.heading == "New studies for lung cancer&x=<b>"
    assert section.more_url == "https://clinicaltrials.gov/search?cond=lung%20cancer%26x%3D%3Cb%3E"
    assert item.matched_by == ("lung cancer&x=<b>",)


def test_odd_notifications_still_build_a_digest() -> None:
    garbage: list[Any] = [None, None, None, None, None, object(), [1], None, None]
    weird = PendingNotification(1, *garbage)
    digest = build_digest("daily", [weird, note(2, "NCT00000001")])
    assert digest is not None
    assert digest.total_count == 2


# --- what a patient can act on ---------------------------------------------------------

DEL_MAR = {"facility": "Hospital del Mar", "city": "Barcelona", "state": "", "country": "Spain"}
FACTS = {
    "phases": ["PHASE2"],
    "study_type": "INTERVENTIONAL",
    "eligibility": {"minimumAge": "18 Years", "maximumAge": "64 Years", "sex": "ALL"},
    "status_verified": "2019-11",
}


def test_an_item_says_its_phase_who_can_join_and_the_nearest_site_noted() -> None:
    nct = "NCT00000001"
    first = replace(
        new_study(1, nct), facts=FACTS, near_site={**DEL_MAR, "why": "nearest", "km": 9.0}
    )
    nearer = replace(
        note(2, nct, subs=(NSCLC,)),
        facts=FACTS,
        near_site={**DEL_MAR, "city": "Badalona", "why": "nearest", "km": 3.0},
    )
    digest = build_digest("daily", [first, nearer])
    assert digest is not None
    [item] = digest.sections[0].items
    assert item.facts == (
        "Phase 2: does it work, is it safe",
        "Who can join: aged 18 to 64 · all sexes",
        "Nearest site: Hospital del Mar, Badalona, Spain, 3.0 km (1.9 mi)",
    )
    assert item.status_note == "looking for participants now"
    assert item.status_verified == "2019-11"  # render words it against the email's day
    assert not item.site_opened


def test_a_study_without_facts_says_nothing_rather_than_something_wrong() -> None:
    _, item = only(build_digest("daily", [note(1, "NCT00000001")]))
    assert item.facts == () and item.status_verified is None
    _, bare = only(build_digest("daily", [replace(note(1, "NCT00000001"), facts={})]))
    assert bare.facts == ("Who can join: eligibility not stated",)


def test_a_site_opened_near_you_leads_the_changes_after_results_posted() -> None:
    nct = "NCT00000001"
    opened = {**DEL_MAR, "why": "opened", "km": 2.1}
    notes = [
        note(1, nct, "site_added", "Hospital Clínic, Barcelona, Spain", None, "RECRUITING"),
        note(2, nct, "status", "overallStatus", "NOT_YET_RECRUITING", "RECRUITING"),
        replace(
            note(3, nct, "site_added", "Hospital del Mar, Barcelona, Spain", None, "RECRUITING"),
            near_site=opened,
        ),
        note(4, nct, "results_posted", "hasResults", False, True),
    ]
    _, item = only(build_digest("daily", notes))
    assert item.changes == (
        "Results posted",
        "A site opened near you: Hospital del Mar, Barcelona, Spain, 2.1 km (1.3 mi)",
        "Status: Not yet recruiting → Recruiting",
        "New site: Hospital Clínic, Barcelona, Spain (Recruiting)",
    )
    assert item.site_opened and not item.is_new
    assert "Nearest site" not in " ".join(item.facts)  # the opened site is named already


def test_a_section_heading_says_when_it_holds_sites_opened_near_you() -> None:
    opened = {**DEL_MAR, "why": "opened", "km": 2.1}
    site = replace(note(2, "NCT00000002", "site_added", "Hospital del Mar"), near_site=opened)
    only_sites = build_digest("daily", [site])
    both = build_digest("daily", [new_study(1, "NCT00000001", LUNG), site])
    assert only_sites is not None and both is not None
    assert only_sites.sections[0].heading == "New sites near you for lung cancer"
    assert both.sections[0].heading == "New studies and sites near you for lung cancer"
    new = build_digest("daily", [replace(new_study(1, "NCT00000001", LUNG), near_site=opened)])
    assert new is not None and new.sections[0].heading == "New studies for lung cancer"
    assert not new.sections[0].items[0].site_opened  # a new study is news enough
