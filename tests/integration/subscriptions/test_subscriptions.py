"""Admin subscription lists on real databases (SQLite file and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from worker.core.models import (
    Criteria,
    Delivery,
    Notification,
    ReceivedEvent,
    StudyChange,
    Subscriber,
    Subscription,
)
from worker.core.runtime import Runtime
from worker.subscriptions.files import RowError, read_subscription_file, write_subscription_file
from worker.subscriptions.lists import (
    ImportReport,
    UnknownSubscriber,
    export_subscriptions,
    import_subscriptions,
    list_subscriptions,
    remove_subscriber,
)
from worker.subscriptions.rows import SubscriptionRow, parse_row

NOW = datetime(2026, 6, 27, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)

ADA_LUNG = {"email": "Ada@Example.com", "kind": "condition", "condition": "Lung cancers"}
BOB_LUNG = {"email": "bob@example.com", "kind": "condition", "condition": "lung-cancer"}
BOB_FOLLOW = {"email": "bob@example.com", "kind": "study", "nct_id": "nct07635641"}
CID_FILTERED = {
    "email": "cid@example.org",
    "kind": "condition",
    "condition": "Head and Neck Cancer",
    "frequency": "weekly",
    "statuses": "recruiting;NOT_YET_RECRUITING",
    "countries": "Italy;United States",
    "near": "45.38,9.16,50",
    "timezone": "europe/rome",
}


def items(*rows: dict[str, Any]) -> list[tuple[int, SubscriptionRow | RowError]]:
    """(line, row or its line error) pairs as a CSV reader yields them: data starts on line 2."""
    return [(line, _row_or_error(line, fields)) for line, fields in enumerate(rows, start=2)]


def _row_or_error(line: int, fields: dict[str, Any]) -> SubscriptionRow | RowError:
    try:
        return parse_row(fields)
    except ValueError as rejection:
        return RowError(line, str(rejection))


def run_import(runtime: Runtime, pairs: Any, now: datetime = NOW, **options: Any) -> ImportReport:
    with runtime.sessions() as session, session.begin():
        return import_subscriptions(session, pairs, now, **options)


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.unchanged, len(report.rejected)


def table_count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def snapshot(runtime: Runtime) -> list[tuple[Any, ...]]:
    """Every stored subscriber, subscription and criteria row, for before/after comparisons."""
    with runtime.sessions() as session:
        tables = (Subscriber, Subscription, Criteria)
        return [
            tuple(row)
            for model in tables
            for row in session.execute(select(model.__table__).order_by(model.id))
        ]


def exported(runtime: Runtime, fmt: str) -> str:
    out = io.StringIO()
    with runtime.sessions() as session:
        write_subscription_file(export_subscriptions(session), out, fmt)
    return out.getvalue()


def reimport(runtime: Runtime, text: str, path: Path) -> ImportReport:
    path.write_text(text, encoding="utf-8")
    return run_import(runtime, read_subscription_file(path), LATER)


def wipe(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        session.execute(delete(Subscriber))
        session.execute(delete(Criteria))


def test_an_import_creates_subscribers_subscriptions_and_criteria(runtime: Runtime) -> None:
    report = run_import(runtime, items(ADA_LUNG, BOB_FOLLOW, CID_FILTERED), send_hour=7)
    assert counts(report) == (3, 0, 0, 0)
    assert report.summary() == "3 created, 0 updated, 0 unchanged, 0 rejected"
    with runtime.sessions() as session:
        people = session.execute(
            select(Subscriber.email, Subscriber.timezone, Subscriber.send_hour).order_by(
                Subscriber.email
            )
        ).all()
        subs = {
            sub.kind + ":" + (sub.condition or sub.nct_id or ""): sub
            for sub in session.scalars(select(Subscription))
        }
        criteria: dict[int | None, Criteria] = {c.id: c for c in session.scalars(select(Criteria))}
    assert [tuple(p) for p in people] == [
        ("ada@example.com", "UTC", 7),
        ("bob@example.com", "UTC", 7),
        ("cid@example.org", "Europe/Rome", 7),
    ]
    follow = subs["study:NCT07635641"]
    assert (follow.criteria_id, follow.frequency, follow.active, follow.confirmed) == (
        None,
        "daily",
        True,
        True,
    )
    filtered = subs["condition:Head and Neck Cancer"]
    assert (filtered.statuses, filtered.countries) == (
        ["NOT_YET_RECRUITING", "RECRUITING"],
        ["Italy", "United States"],
    )
    assert (filtered.near_lat, filtered.near_lon, filtered.near_km) == (45.38, 9.16, 50.0)
    assert filtered.created_at == filtered.updated_at == NOW
    shared = criteria[filtered.criteria_id]
    assert (shared.words, shared.match_key) == ("head neck neoplasm", "head")
    assert (shared.statuses, shared.countries) == (
        ["NOT_YET_RECRUITING", "RECRUITING"],
        ["italy", "united states"],
    )
    assert (shared.near_lat, shared.near_lon, shared.near_km) == (45.38, 9.16, 50.0)
    assert criteria[subs["condition:Lung cancers"].criteria_id].words == "lung neoplasm"


def test_the_same_question_in_other_words_shares_one_criteria_row(runtime: Runtime) -> None:
    in_italy = {**ADA_LUNG, "countries": "Italy"}
    also_in_italy = {**BOB_LUNG, "condition": "Lung Cancer!", "countries": " italy "}
    elsewhere = {**BOB_LUNG, "condition": "lung tumour", "countries": "France"}
    run_import(runtime, items(ADA_LUNG, BOB_LUNG, in_italy, also_in_italy, elsewhere))
    with runtime.sessions() as session:
        pairs = session.execute(
            select(Subscriber.email, Subscription.condition, Subscription.criteria_id)
            .join(Subscriber)
            .order_by(Subscription.id)
        ).all()
    assert len(pairs) == 5
    ada_any, bob_any, ada_italy, bob_italy, bob_france = (criteria for _, _, criteria in pairs)
    assert ada_any == bob_any  # "Lung cancers" and "lung-cancer"
    assert ada_italy == bob_italy  # "Italy" and " italy "
    assert len({ada_any, ada_italy, bob_france}) == 3
    assert table_count(runtime, Criteria) == 3


def test_importing_the_same_rows_again_changes_nothing(runtime: Runtime) -> None:
    rows = items(ADA_LUNG, BOB_LUNG, BOB_FOLLOW, CID_FILTERED)
    run_import(runtime, rows)
    before = snapshot(runtime)
    again = run_import(runtime, rows, LATER)
    assert counts(again) == (0, 0, 4, 0)
    assert snapshot(runtime) == before  # no updated_at bumps either


def test_a_changed_frequency_or_timezone_updates_and_nothing_else_does(runtime: Runtime) -> None:
    run_import(runtime, items(ADA_LUNG, BOB_LUNG, BOB_FOLLOW, CID_FILTERED))
    changed = items(
        {**ADA_LUNG, "frequency": "instant"},
        {**BOB_LUNG, "timezone": "Asia/Tokyo"},
        {**BOB_FOLLOW, "timezone": "Asia/Tokyo"},
        {**CID_FILTERED, "condition": "HEAD AND NECK CANCER"},  # same subscription, other case
    )
    report = run_import(runtime, changed, LATER)
    assert counts(report) == (0, 3, 1, 0)
    with runtime.sessions() as session:
        ada = session.execute(
            select(Subscription.frequency, Subscription.updated_at, Subscription.created_at)
            .join(Subscriber)
            .where(Subscriber.email == "ada@example.com")
        ).one()
        zones = dict(session.execute(select(Subscriber.email, Subscriber.timezone)).all())
        cid_condition = session.scalar(
            select(Subscription.condition)
            .join(Subscriber)
            .where(Subscriber.email == "cid@example.org")
        )
    assert tuple(ada) == ("instant", LATER, NOW)
    assert zones == {
        "ada@example.com": "UTC",
        "bob@example.com": "Asia/Tokyo",
        "cid@example.org": "Europe/Rome",
    }
    assert cid_condition == "Head and Neck Cancer"  # kept as first written


def test_a_repeated_row_is_applied_once_even_across_batches(runtime: Runtime) -> None:
    rows = items(ADA_LUNG, BOB_FOLLOW, ADA_LUNG, {**ADA_LUNG, "condition": "LUNG CANCERS"})
    report = run_import(runtime, rows, batch_size=2)
    assert counts(report) == (2, 0, 2, 0)
    assert table_count(runtime, Subscription) == 2


def test_contradicting_repeats_are_rejected_naming_the_earlier_line(runtime: Runtime) -> None:
    rows = items(
        ADA_LUNG,
        {**ADA_LUNG, "frequency": "weekly"},
        {**BOB_FOLLOW, "timezone": "Europe/Paris"},
        {**BOB_LUNG, "timezone": "UTC"},
    )
    report = run_import(runtime, rows, batch_size=3)
    assert counts(report) == (2, 0, 0, 2)
    first, second = report.rejected
    assert first.line == 3 and "line 2" in first.reason and "frequency" in first.reason
    assert second.line == 5 and "line 4" in second.reason and "timezone" in second.reason


def test_a_condition_of_only_stop_words_is_rejected_with_its_line(runtime: Runtime) -> None:
    pairs: list[tuple[int, SubscriptionRow | RowError]] = [
        *items(ADA_LUNG, {**BOB_LUNG, "condition": "the and of"}),
        (4, RowError(4, "nct_id 'NCT1': expected NCT followed by 8 digits")),
    ]
    report = run_import(runtime, [*pairs, (5, parse_row(BOB_FOLLOW))])
    assert counts(report) == (2, 0, 0, 2)
    assert [error.line for error in report.rejected] == [3, 4]
    assert "'the and of'" in report.rejected[0].reason
    with runtime.sessions() as session:
        assert session.scalars(select(Subscriber.email).order_by(Subscriber.email)).all() == [
            "ada@example.com",
            "bob@example.com",
        ]


def test_a_dry_run_counts_exactly_like_a_real_run_and_writes_nothing(runtime: Runtime) -> None:
    run_import(runtime, items(ADA_LUNG, BOB_FOLLOW))
    before = snapshot(runtime)
    rows = items(
        {**ADA_LUNG, "frequency": "weekly"},
        BOB_FOLLOW,
        BOB_FOLLOW,
        CID_FILTERED,
        {**BOB_LUNG, "condition": "of the"},
    )
    dry = run_import(runtime, rows, LATER, dry_run=True, batch_size=2)
    assert snapshot(runtime) == before
    assert (
        dry.summary() == "1 created, 1 updated, 2 unchanged, 1 rejected (dry run: nothing written)"
    )
    real = run_import(runtime, rows, LATER, batch_size=2)
    assert (counts(real), real.rejected) == (counts(dry), dry.rejected)
    assert snapshot(runtime) != before


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_and_import_round_trip_byte_for_byte(
    runtime: Runtime, tmp_path: Path, fmt: str
) -> None:
    unicode_condition = {**BOB_LUNG, "condition": 'Sjögren\'s "syndrome", primary'}
    run_import(runtime, items(CID_FILTERED, BOB_FOLLOW, ADA_LUNG, unicode_condition))
    first = exported(runtime, fmt)
    assert counts(reimport(runtime, first, tmp_path / f"same.{fmt}")) == (0, 0, 4, 0)
    wipe(runtime)
    assert counts(reimport(runtime, first, tmp_path / f"fresh.{fmt}")) == (4, 0, 0, 0)
    assert exported(runtime, fmt) == first
    rows = [row for _, row in read_subscription_file(tmp_path / f"fresh.{fmt}")]
    emails = [row.email for row in rows if isinstance(row, SubscriptionRow)]
    assert emails == ["ada@example.com", "bob@example.com", "bob@example.com", "cid@example.org"]


def test_export_leaves_out_inactive_subscriptions(runtime: Runtime) -> None:
    run_import(runtime, items(ADA_LUNG, BOB_FOLLOW))
    with runtime.sessions() as session, session.begin():
        session.execute(
            update(Subscription).where(Subscription.kind == "study").values(active=False)
        )
    with runtime.sessions() as session:
        rows = list(export_subscriptions(session))
    assert [row.email for row in rows] == ["ada@example.com"]


def test_an_import_never_reactivates_an_unsubscribed_subscription(runtime: Runtime) -> None:
    run_import(runtime, items(BOB_FOLLOW))
    with runtime.sessions() as session, session.begin():
        session.execute(update(Subscription).values(active=False))
    assert counts(run_import(runtime, items(BOB_FOLLOW), LATER)) == (0, 0, 1, 0)
    with runtime.sessions() as session:
        assert session.scalar(select(Subscription.active)) is False


def test_list_shows_each_subscription_with_filters_and_state(runtime: Runtime) -> None:
    run_import(runtime, items(CID_FILTERED, BOB_LUNG, BOB_FOLLOW))
    with runtime.sessions() as session, session.begin():
        session.execute(
            update(Subscription).where(Subscription.kind == "study").values(active=False)
        )
    with runtime.sessions() as session:
        everyone = [listed.line() for listed in list_subscriptions(session)]
        bob = [listed.line() for listed in list_subscriptions(session, "bob@example.com")]
        nobody = list(list_subscriptions(session, "nobody@example.com"))
    assert everyone == [
        "bob@example.com\tcondition\tlung-cancer\tdaily\t-\tUTC\tactive,confirmed",
        "bob@example.com\tstudy\tNCT07635641\tdaily\t-\tUTC\tinactive,confirmed",
        "cid@example.org\tcondition\tHead and Neck Cancer\tweekly\t"
        "statuses=NOT_YET_RECRUITING;RECRUITING countries=Italy;United States "
        "near=45.38,9.16,50.0km\tEurope/Rome\tactive,confirmed",
    ]
    assert bob == everyone[:2]
    assert nobody == []


def _pending_notification(session: Session, subscriber_id: int) -> None:
    """A notification (and its delivery) waiting for the subscriber, with the rows it needs."""
    event = ReceivedEvent(
        source="test", event_id="e1", type="t", nct_id="NCT07635641", received_at=NOW, payload="{}"
    )
    session.add(event)
    session.flush()
    change = StudyChange(nct_id="NCT07635641", event_pk=event.id, kind="status", created_at=NOW)
    delivery = Delivery(
        subscriber_id=subscriber_id, frequency="daily", window=NOW, created_at=NOW, updated_at=NOW
    )
    session.add_all([change, delivery])
    session.flush()
    session.add(
        Notification(
            subscriber_id=subscriber_id,
            change_id=change.id,
            nct_id="NCT07635641",
            subscription_ids=[1],
            frequency="daily",
            created_at=NOW,
            delivery_id=delivery.id,
        )
    )


def test_removing_a_subscriber_removes_their_subscriptions_and_notifications(
    runtime: Runtime,
) -> None:
    run_import(runtime, items(ADA_LUNG, BOB_LUNG, BOB_FOLLOW))
    with runtime.sessions() as session, session.begin():
        bob = session.scalar(select(Subscriber.id).where(Subscriber.email == "bob@example.com"))
        assert bob is not None
        _pending_notification(session, bob)
    with runtime.sessions() as session, session.begin():
        assert remove_subscriber(session, "bob@example.com") == 2
    with runtime.sessions() as session:
        left = session.scalars(select(Subscriber.email)).all()
        owners = set(session.scalars(select(Subscription.subscriber_id)))
    assert left == ["ada@example.com"]
    assert len(owners) == 1 and bob not in owners
    assert (table_count(runtime, Notification), table_count(runtime, Delivery)) == (0, 0)
    assert table_count(runtime, Criteria) == 1  # criteria are shared and insert-only


def test_removing_an_unknown_subscriber_says_so(runtime: Runtime) -> None:
    with runtime.sessions() as session, pytest.raises(UnknownSubscriber, match="no subscriber x@"):
        remove_subscriber(session, "x@example.com")
