"""Stopping one alert drops only what no other running alert wants.

A match of two alerts waits in the faster one's stream; the sender drops a
stream with no running alert. Stop the faster alert (preferences page, or
its stream's one-click link) and the match must go out with the other one.
Through the WSGI app and the in-process queue on both databases.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.support import event, record
from worker.core.models import Subscriber, Subscription
from worker.core.runtime import Runtime, fixed_clock
from worker.core.tokens import preferences_token, unsubscribe_url
from worker.web.app import create_app

EARLY = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # before the daily send hour (08:00 UTC)
DAILY_DUE = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def _alerts(runtime: Runtime) -> tuple[int, str, int]:
    """Ada's id and link key, and the id of her instant alert."""
    subscribe(
        runtime,
        [
            {"email": "ada@example.org", "kind": "condition", "condition": "breast cancer",
             "frequency": "instant"},
            {"email": "ada@example.org", "kind": "condition", "condition": "breast neoplasms"},
        ],
    )  # fmt: skip
    with runtime.sessions() as session:
        ada, key = session.execute(select(Subscriber.id, Subscriber.link_key)).one()
        instant = session.scalar(select(Subscription.id).where(Subscription.frequency == "instant"))
    assert instant is not None
    return ada, key, instant


def _digests(runtime: Runtime) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(runtime.settings.outbox).glob("*.eml"))
    ]


def test_stopping_the_faster_alert_on_the_preferences_page_keeps_the_shared_match(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    runtime.clock = fixed_clock(EARLY)
    ada, key, instant = _alerts(runtime)
    publish_at(runtime, stub_broker, EARLY, event(record("NCT02513394"), "e1"))
    client = create_app(runtime).test_client()
    url = "/preferences/" + preferences_token(runtime.settings.secret_keys, ada, key)
    page = client.get(url).get_data(as_text=True)
    [csrf] = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    form = {"csrf_token": csrf, "action": "stop", "subscription": str(instant)}
    assert client.post(url, data=form).status_code == 303

    tick(runtime, stub_broker, EARLY, flush=True)
    tick(runtime, stub_broker, DAILY_DUE)
    [digest] = _digests(runtime)
    assert "daily" in digest["List-Id"]
    text = digest.get_body(preferencelist=("plain",))
    assert text is not None and "NCT02513394" in text.get_content()


def test_the_one_click_link_of_a_stream_keeps_matches_another_stream_wants(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    runtime.clock = fixed_clock(EARLY)
    ada, key, _ = _alerts(runtime)
    publish_at(runtime, stub_broker, EARLY, event(record("NCT02513394"), "e1"))
    client = create_app(runtime).test_client()
    link = unsubscribe_url(runtime.settings, ada, "instant", link_key=key)
    answer = client.post(
        link.split("localhost:8000", 1)[-1], data={"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200

    tick(runtime, stub_broker, EARLY, flush=True)
    tick(runtime, stub_broker, DAILY_DUE)
    [digest] = _digests(runtime)
    assert "daily" in digest["List-Id"]
