"""The poller against a fake registry over HTTP: what subscribers finally receive.

Each test subscribes people, polls, drains the pipeline (`run --until-idle`)
and reads the outbox, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import prometheus_client
import pytest
from sqlalchemy import select

from tests.integration.pipeline_helpers import subscribe
from tests.integration.registry.support import (
    SINCE,
    event_counts,
    outbox,
    point_at,
    real_studies,
)
from tests.support import record
from worker.bench.fake_ctgov import FakeCtgov, Fault, variant
from worker.core.models import DeadLetter, RegistryCursor
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.runner import run_until_idle
from worker.registry.client import RegistryUnavailable
from worker.registry.poll import Poller

pytestmark = pytest.mark.integration
ALL = [study["protocolSection"]["identificationModule"]["nctId"] for study in real_studies()]


def _follow(email: str, nct_id: str) -> dict[str, str]:
    return {"email": email, "kind": "study", "nct_id": nct_id, "frequency": "instant"}


def _watch(email: str, condition: str) -> dict[str, str]:
    return {"email": email, "kind": "condition", "condition": condition, "frequency": "instant"}


def _poll(runtime: Runtime, since: str | None = None):  # type: ignore[no-untyped-def]
    poller = Poller(runtime)
    try:
        return poller.poll(date.fromisoformat(since) if since else None)
    finally:
        poller.close()


def _metric(name: str, **labels: str) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_fault_the_registry_throws_still_ends_in_the_right_emails(
    runtime: Runtime, fake: FakeCtgov, tmp_path: Path
) -> None:
    point_at(runtime, fake)
    subscribe(runtime, [_watch("ada@example.org", "lung cancer"),
                        _watch("ben@example.org", "brain injuries")])  # fmt: skip
    no_nct = variant(record("NCT00973089"), "NCT09000009", "2020-01-01")
    del no_nct["protocolSection"]["identificationModule"]["nctId"]
    fake.put(no_nct, key="no-nct")
    fake.fail(Fault("429", retry_after="0.2"), *[Fault("503")] * 3, Fault("html"),
              Fault("truncated"), Fault("cut"), Fault("drop"), Fault("empty"))  # fmt: skip
    throttled_before = _metric("trialalerts_ctgov_requests_total", status="429")

    report = _poll(runtime, SINCE)

    assert report is not None and fake.pending_faults() == 0
    assert report.studies == len(ALL) + 1 and report.accepted == len(ALL)
    assert report.rejected == 1 and report.bad_pages == 2
    assert event_counts(runtime) == {nct_id: 1 for nct_id in ALL}
    with runtime.sessions() as session:
        reasons = sorted(session.scalars(select(DeadLetter.reason)))
        cursor = session.scalars(select(RegistryCursor)).one()
    assert len(reasons) == 3 and all(fake.url + "/studies?" in reason for reason in reasons)
    assert any("HTML page" in r for r in reasons) and any("not valid JSON" in r for r in reasons)
    assert any(" study 1: " in r and "nctId" in r for r in reasons)
    assert cursor.day == date(2025, 9, 10) and cursor.data_timestamp == fake.data_timestamp
    assert cursor.holder is None
    # Retry-After was honoured, and every request named the product.
    first, retry = fake.studies_requests()[:2]
    assert first.status == 429 and retry.at - first.at >= 0.2
    assert all(r.user_agent.startswith("Trialalerts/") for r in fake.requests)
    assert _metric("trialalerts_ctgov_requests_total", status="429") == throttled_before + 1

    run_until_idle(runtime)

    mail = outbox(tmp_path / "outbox")
    assert set(mail) == {"ada@example.org", "ben@example.org"}
    assert "NCT04267848" in mail["ada@example.org"][0]
    assert all(n in mail["ben@example.org"][0] for n in ("NCT06171568", "NCT09000001"))


def test_an_update_reaches_followers_and_an_unchanged_registry_costs_one_request(
    runtime: Runtime, fake: FakeCtgov, tmp_path: Path
) -> None:
    point_at(runtime, fake)
    subscribe(runtime, [_follow("cleo@example.org", "NCT04267848")])
    assert _poll(runtime, SINCE).accepted == len(ALL)  # type: ignore[union-attr]
    run_until_idle(runtime)
    assert len(outbox(tmp_path / "outbox")["cleo@example.org"]) == 1  # the new study

    again = _poll(runtime)
    assert again is not None and again.unchanged and again.requests == 1

    fake.put(variant(record("NCT04267848"), "NCT04267848", "2025-09-12", "ACTIVE_NOT_RECRUITING"))
    fake.data_timestamp = "2026-06-29T09:00:04"
    updated = _poll(runtime)
    assert updated is not None and updated.accepted == 1
    assert updated.duplicates == 0 and updated.studies == 1  # from the cursor day on
    run_until_idle(runtime)

    mail = outbox(tmp_path / "outbox")
    assert list(mail) == ["cleo@example.org"] and len(mail["cleo@example.org"]) == 2
    assert "Active, not recruiting" in mail["cleo@example.org"][1]


def test_a_followed_study_that_flips_to_unknown_without_a_new_date_is_caught(
    runtime: Runtime, fake: FakeCtgov, tmp_path: Path
) -> None:
    start = datetime(2026, 7, 1, 9, tzinfo=UTC)
    runtime.clock = fixed_clock(start)
    point_at(runtime, fake)
    subscribe(runtime, [_follow("dan@example.org", "NCT06171568"),
                        _follow("dan@example.org", "NCT02576665"),
                        _follow("dan@example.org", "NCT09999999")])  # fmt: skip
    fake.put(record("NCT02576665.partial"))  # no post date: only a fetch by id finds it

    first = _poll(runtime, "2026-06-01")  # nothing updated since: the follow refresh finds them
    assert first is not None and first.studies == 0 and first.followed == 2
    assert first.missing == ["NCT09999999"]
    run_until_idle(runtime)
    flipped = record("NCT06171568")
    flipped["protocolSection"]["statusModule"]["overallStatus"] = "UNKNOWN"
    fake.put(flipped)  # same update dates as before
    fake.data_timestamp = "2026-07-02T09:00:04"

    runtime.clock = fixed_clock(start + timedelta(hours=12))
    early = _poll(runtime)
    assert early is not None and early.followed == 0 and early.studies == 0
    runtime.clock = fixed_clock(start + timedelta(hours=25))
    due = _poll(runtime)
    assert due is not None and due.followed == 2 and due.accepted == 1
    assert due.missing == ["NCT09999999"]
    run_until_idle(runtime)

    mail = outbox(tmp_path / "outbox")
    assert len(mail["dan@example.org"]) == 2  # the new studies, then the flip
    assert "Unknown status" in mail["dan@example.org"][1]
    assert event_counts(runtime) == {"NCT06171568": 2, "NCT02576665": 1}


def test_a_registry_that_stays_down_stops_the_poll_with_the_cursor_on_the_last_stored_page(
    runtime: Runtime, fake: FakeCtgov
) -> None:
    point_at(runtime, fake, retries=2)
    fake.put(*[variant(record("NCT06171568"), f"NCT0800000{n}", f"2024-09-0{n}") for n in (1, 2)])
    fake.fail(*[Fault("503")] * 3, after=2)  # two good pages, then a page that never comes
    poller = Poller(runtime)
    with pytest.raises(RegistryUnavailable, match="gave up after 3 attempts"):
        poller.poll(date.fromisoformat(SINCE))
    assert poller.last_report.pages == 2 and len(fake.studies_requests()) == 5
    with runtime.sessions() as session:
        cursor = session.scalars(select(RegistryCursor)).one()
    assert cursor.day == date(2023, 12, 14) and cursor.data_timestamp is None
    assert cursor.holder is None

    resumed = poller.poll()
    poller.close()
    assert resumed is not None and resumed.duplicates == 1  # the cursor day, read again
    assert event_counts(runtime) == dict.fromkeys([*ALL, "NCT08000001", "NCT08000002"], 1)
