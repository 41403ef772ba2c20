"""A confirmed sign-up that changes an alert's frequency takes the news waiting for it along.

Through the WSGI app and the in-process queue on both databases: the alert
is daily with a match waiting for 08:00; a sign-up for the same alert as
instant is confirmed; the waiting match goes out in the instant digest
instead of being dropped with the daily stream.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

from dramatiq.brokers.stub import StubBroker

from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.integration.web.test_signup import _confirm_path
from tests.support import event, record
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.broker import drain
from worker.web.app import create_app

EARLY = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # before the daily send hour (08:00 UTC)


def _mails(runtime: Runtime, broker: StubBroker) -> list[email.message.EmailMessage]:
    """Every mail sent once the queue has run what the requests left for it."""
    drain(broker)
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(runtime.settings.outbox).glob("*.eml"))
    ]


def test_a_waiting_match_goes_out_with_the_frequency_a_confirmed_sign_up_chose(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    runtime.clock = fixed_clock(EARLY)
    client = create_app(runtime).test_client()
    ada = {"email": "ada@example.org", "kind": "condition", "condition": "Breast cancer"}
    subscribe(runtime, [ada])
    publish_at(runtime, stub_broker, EARLY, event(record("NCT02513394"), "e1"))
    assert tick(runtime, stub_broker, EARLY, flush=True) == 0  # waiting for 08:00

    form = {"email": "ada@example.org", "condition": "breast cancer", "frequency": "instant"}
    assert client.post("/signup", data=form).status_code == 303
    [confirmation] = _mails(runtime, stub_broker)
    assert client.post(_confirm_path(confirmation)).status_code == 200

    assert tick(runtime, stub_broker, EARLY, flush=True) == 1
    [digest] = [mail for mail in _mails(runtime, stub_broker) if mail["List-Unsubscribe"]]
    text = digest.get_body(preferencelist=("plain",))
    assert text is not None and "NCT02513394" in text.get_content()
