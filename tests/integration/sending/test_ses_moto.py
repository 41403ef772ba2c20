"""Digests through SES v2 over real HTTP (moto's server): raw MIME, one recipient a message."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import boto3
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.conftest import TEST_KEY, _truncate, make_runtime
from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.ses_support import SENDER, moto_sent, parse
from tests.ses_support import moto_ses as moto_ses  # noqa: F401 - fixture
from tests.ses_support import moto_url as moto_url  # noqa: F401 - fixture
from tests.support import event, record, write_jsonl
from worker.core.models import Delivery
from worker.core.runtime import Runtime, set_runtime
from worker.sending.senders import sender_of

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)
READERS = ("ada@example.org", "bob@example.org")


@pytest.fixture
def ses_runtime(
    database_url: str, tmp_path: Path, stub_broker: StubBroker, moto_ses: str
) -> Iterator[Runtime]:
    boto3.client("sesv2").create_configuration_set(ConfigurationSetName="trialalerts")
    runtime = make_runtime(
        database_url, tmp_path, email_backend="ses", ses_configuration_set="trialalerts"
    )
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.close()


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no text/{kind} part"
    return str(part.get_content())


def _lung_readers(runtime: Runtime, broker: StubBroker) -> None:
    subscribe(
        runtime,
        [{"email": email, "kind": "condition", "condition": "lung cancer"} for email in READERS],
    )
    publish_at(runtime, broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))


def test_each_due_digest_goes_to_ses_as_raw_mime_to_one_recipient(
    ses_runtime: Runtime, stub_broker: StubBroker, moto_ses: str
) -> None:
    _lung_readers(ses_runtime, stub_broker)
    assert tick(ses_runtime, stub_broker, MONDAY_MORNING) == 2

    sent = moto_sent(moto_ses)
    assert len(sent) == 2
    by_reader = {}
    for stored in sent:
        message = parse(stored["raw_data"])
        assert stored["source"] == SENDER
        assert set(stored["destinations"]) == {message["To"]}
        by_reader[message["To"]] = (stored["id"], message)
    assert sorted(by_reader) == list(READERS)
    for _, message in by_reader.values():
        assert message["From"] == ses_runtime.settings.mail_from
        assert message["Subject"]
        assert message.get_content_type() == "multipart/alternative"
        unsubscribe = message["List-Unsubscribe"]
        assert "<https://" in unsubscribe or "<http://" in unsubscribe
        assert "/u/" in unsubscribe and "<mailto:" in unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "daily" in message["List-Id"]
        assert message["Message-ID"].startswith("<digest-")
        text, html = body(message, "plain"), body(message, "html")
        assert "NCT04267848" in text and "NCT04267848" in html
    with ses_runtime.sessions() as session:
        rows = session.execute(select(Delivery.state, Delivery.message_id)).all()
    assert sorted(rows) == sorted(("sent", ses_id) for ses_id, _ in by_reader.values())


def test_without_get_account_the_configured_rate_paces_sending(
    sqlite_url: str, tmp_path: Path, stub_broker: StubBroker, moto_ses: str
) -> None:
    runtime = make_runtime(sqlite_url, tmp_path, email_backend="ses", ses_max_rate=20.0)
    set_runtime(runtime)
    try:
        _lung_readers(runtime, stub_broker)
        tick(runtime, stub_broker, MONDAY_MORNING)
        gate = sender_of(runtime).gate  # type: ignore[attr-defined]
    finally:
        set_runtime(None)
        runtime.close()
    assert len(moto_sent(moto_ses)) == 2
    assert gate.account is None  # moto has no GetAccount
    assert gate.pacer.rate() == pytest.approx(0.9 * 20.0)


def test_an_unverified_sender_is_rejected_failed_and_never_retried(
    sqlite_url: str, tmp_path: Path, stub_broker: StubBroker, moto_ses: str
) -> None:
    runtime = make_runtime(
        sqlite_url, tmp_path, email_backend="ses", mail_from="Other <other@elsewhere.example>"
    )
    set_runtime(runtime)
    try:
        _lung_readers(runtime, stub_broker)
        tick(runtime, stub_broker, MONDAY_MORNING)
        tick(runtime, stub_broker, datetime(2026, 6, 30, 8, tzinfo=UTC))
        with runtime.sessions() as session:
            rows = session.execute(select(Delivery.state, Delivery.last_error)).all()
    finally:
        set_runtime(None)
        runtime.close()
    assert moto_sent(moto_ses) == []
    assert [state for state, _ in rows] == ["failed", "failed"]
    assert all("MessageRejected" in (error or "") for _, error in rows)


def test_trialalerts_run_until_idle_delivers_every_due_digest_through_ses(
    pg_url: str, tmp_path: Path, moto_ses: str
) -> None:
    _truncate(pg_url)
    readers = tmp_path / "readers.csv"
    with readers.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "kind", "condition", "frequency"])
        writer.writerows([email, "condition", "lung cancer", "daily"] for email in READERS)
    events = write_jsonl(tmp_path / "events.jsonl", [event(record("NCT04267848"), "cli-1")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    env.update(
        TRIALALERTS_DATABASE_URL=pg_url,
        TRIALALERTS_EMAIL_BACKEND="ses",
        TRIALALERTS_SECRET_KEY=TEST_KEY,
        TRIALALERTS_FROM=f"Trialalerts <{SENDER}>",
    )

    def trialalerts(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "worker", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert trialalerts("subscribers", "import", str(readers)).returncode == 0
    assert trialalerts("publish", str(events)).returncode == 0
    run = trialalerts("run", "--until-idle", "--now", "2026-06-29T08:00:00Z")
    assert run.returncode == 0, run.stderr
    assert "emails: 2" in run.stdout
    messages = [parse(stored["raw_data"]) for stored in moto_sent(moto_ses)]
    assert sorted(m["To"] for m in messages) == list(READERS)
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in messages)


def test_an_internationalized_domain_is_sent_in_its_ascii_form(
    ses_runtime: Runtime, stub_broker: StubBroker, moto_ses: str
) -> None:
    subscribe(
        ses_runtime, [{"email": "Ada@Bücher.de", "kind": "condition", "condition": "lung cancer"}]
    )
    publish_at(ses_runtime, stub_broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))
    assert tick(ses_runtime, stub_broker, MONDAY_MORNING) == 1
    [stored] = moto_sent(moto_ses)
    assert set(stored["destinations"]) == {"ada@xn--bcher-kva.de"}
    assert parse(stored["raw_data"])["To"] == "ada@xn--bcher-kva.de"
    with ses_runtime.sessions() as session:
        assert session.scalars(select(Delivery.state)).all() == ["sent"]
