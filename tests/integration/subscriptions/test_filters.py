"""Eligibility filters and places stored, exported and signed up, on both databases."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.integration.subscriptions.test_subscriptions import counts, items, run_import
from worker.core.models import Criteria, Signup, Subscription
from worker.core.runtime import Runtime
from worker.subscriptions.files import read_subscription_file, write_subscription_file
from worker.subscriptions.lists import export_subscriptions, list_subscriptions
from worker.subscriptions.signups import confirm_signup, create_signup, parse_signup

NOW = datetime(2026, 6, 27, 9, 0, tzinfo=UTC)
FILTERED = {
    "email": "ada@example.org",
    "kind": "condition",
    "condition": "melanoma",
    "near": "milan, italy;50",
    "age": "40",
    "sex": "female",
    "healthy_volunteers": "true",
    "phases": "phase 2;PHASE3",
    "study_types": "interventional",
}
ZIP = {"email": "bob@example.org", "kind": "condition", "condition": "glioma", "near": "10001;80"}
FOLLOW = {"email": "bob@example.org", "kind": "study", "nct_id": "NCT04267848"}


def exported(runtime: Runtime, fmt: str) -> str:
    out = io.StringIO()
    with runtime.sessions() as session:
        write_subscription_file(export_subscriptions(session), out, fmt)
    return out.getvalue()


def test_filters_and_places_are_stored_on_the_subscription(runtime: Runtime) -> None:
    run_import(runtime, items(FILTERED, ZIP))
    with runtime.sessions() as session:
        ada = session.scalars(select(Subscription).order_by(Subscription.id)).first()
        assert ada is not None
        assert (ada.age, ada.sex, ada.healthy_volunteers, ada.phases, ada.study_types) == (
            40,
            "female",
            True,
            ["PHASE2", "PHASE3"],
            ["INTERVENTIONAL"],
        )
        assert (ada.near_lat, ada.near_lon, ada.near_km, ada.near_place) == (
            45.46427,
            9.18951,
            50.0,
            "Milan, Italy",
        )
        criteria = session.get(Criteria, ada.criteria_id)
        assert criteria is not None and (criteria.age, criteria.sex) == (40, "female")
        lines = [listed.line() for listed in list_subscriptions(session)]
    assert "near=Milan, Italy;50.0km age=40 sex=female healthy_volunteers=true" in lines[0]
    assert "phases=PHASE2;PHASE3 study_types=INTERVENTIONAL" in lines[0]
    assert "near=10001;80.0km" in lines[1]


def test_export_and_import_round_trip_with_every_filter(runtime: Runtime, tmp_path: Path) -> None:
    run_import(runtime, items(FILTERED, ZIP, FOLLOW))
    for fmt in ("csv", "jsonl"):
        text = exported(runtime, fmt)
        assert "Milan, Italy;50" in text and "10001;80" in text
        path = tmp_path / f"export.{fmt}"
        path.write_text(text)
        assert counts(run_import(runtime, read_subscription_file(path))) == (0, 0, 3, 0)
        assert exported(runtime, fmt) == text


def test_a_file_without_the_newer_columns_imports_as_before(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "email,kind,condition,nct_id,frequency,statuses,countries,near,timezone\n"
        'ada@example.org,condition,melanoma,,weekly,RECRUITING,Italy,"45.38,9.16,50",UTC\n'
    )
    assert counts(run_import(runtime, read_subscription_file(path))) == (1, 0, 0, 0)
    with runtime.sessions() as session:
        ada = session.scalars(select(Subscription)).one()
        assert (ada.age, ada.sex, ada.phases, ada.near_place) == (None, None, None, None)
        assert (ada.near_lat, ada.near_lon, ada.near_km) == (45.38, 9.16, 50.0)


def test_bad_filter_values_reject_their_line_and_save_nothing_of_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"email": "ada@example.org", "kind": "condition", "condition": "melanoma", "age": 40}\n'
        '{"email": "bob@example.org", "kind": "condition", "condition": "glioma", "age": -1}\n'
        '{"email": "cy@example.org", "kind": "condition", "condition": "glioma", "sex": "x"}\n'
        '{"email": "di@example.org", "kind": "condition", "condition": "glioma",'
        ' "phases": ["PHASE9"], "healthy_volunteers": "maybe"}\n'
        '{"email": "ed@example.org", "kind": "condition", "condition": "glioma",'
        ' "near": "Atlantis, Greece;5"}\n'
    )
    report = run_import(runtime, read_subscription_file(path))
    assert counts(report) == (1, 0, 0, 4)
    reasons = {error.line: error.reason for error in report.rejected}
    assert reasons[2].startswith("age '-1': expected whole years")
    assert reasons[3].startswith("sex 'x': expected one of female, male")
    assert reasons[4].startswith("healthy_volunteers 'maybe'") and "phases '" in reasons[4]
    assert reasons[5].startswith("near 'Atlantis, Greece;5': no city 'Atlantis' in Greece")
    with runtime.sessions() as session:
        emails = {listed.row.email for listed in list_subscriptions(session)}
    assert emails == {"ada@example.org"}


def test_another_age_is_another_subscription_beside_the_first(runtime: Runtime) -> None:
    """Filters are part of what a subscription is: re-importing with a new age adds one."""
    run_import(runtime, items(FILTERED))
    report = run_import(
        runtime, items(FILTERED | {"age": "41"}, FILTERED | {"frequency": "weekly"})
    )
    assert counts(report) == (1, 1, 0, 0)
    with runtime.sessions() as session:
        ages = sorted(
            (listed.row.age, listed.row.frequency) for listed in list_subscriptions(session)
        )
    assert ages == [(40, "weekly"), (41, "daily")]


def test_a_sign_up_carries_its_filters_and_place_to_the_subscription(runtime: Runtime) -> None:
    fields = {key: value for key, value in FILTERED.items() if key != "kind"}
    row = parse_signup(fields)
    with runtime.sessions() as session, session.begin():
        outcome = create_signup(session, row, "client", NOW)
    assert outcome.signup_id is not None
    with runtime.sessions() as session, session.begin():
        link_key = session.get(Signup, outcome.signup_id).link_key  # type: ignore[union-attr]
        status = confirm_signup(session, outcome.signup_id, NOW + timedelta(hours=1), link_key)
    assert status.state == "confirmed"
    with runtime.sessions() as session:
        [listed] = list_subscriptions(session)
    assert listed.confirmed and listed.active
    assert listed.row == row
    assert listed.row.near_place == "Milan, Italy" and listed.row.age == 40
