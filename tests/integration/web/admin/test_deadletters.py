"""Dead letters in the console: reason and source line, the raw payload escaped, replay audited."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
from collections.abc import Callable

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.web.admin.console import ADMIN_EMAIL, Console, logged_in, post_form
from tests.support import event, record
from worker.core.models import AuditEntry, DeadLetter, ReceivedEvent
from worker.core.runtime import Runtime
from worker.ingest.deadletters import dead_letter, store_dead_letters
from worker.queue.broker import drain
from worker.queue.pipeline import publish_stream

HOSTILE = '<script>alert("x")</script>\x1b[2J\u202e'


def _letters(runtime: Runtime, stub_broker: StubBroker) -> tuple[int, int]:
    """A letter rejected now (hostile, still bad) and one valid now (rejected by older rules)."""
    bad = json.dumps({"specversion": "1.0", "id": HOSTILE, "type": "nope"}) + "\n"
    report = publish_stream(io.BytesIO(("\n" + bad).encode()), "upload " + HOSTILE, runtime)
    assert len(report.rejections) == 1
    drain(stub_broker)
    valid = json.dumps(event(record("NCT04267848"), "later-valid"))
    with runtime.sessions() as session, session.begin():
        row = dead_letter("old-publisher.jsonl", 7, "later-valid", "old rule", valid, runtime.now())
        store_dead_letters(session, [row])
        ids = session.scalars(select(DeadLetter.id).order_by(DeadLetter.id)).all()
    return ids[0], ids[1]


def test_the_list_and_the_payload_are_shown_escaped_with_reason_and_line(
    console: Console, stub_broker: StubBroker
) -> None:
    hostile_id, _ = _letters(console.runtime, stub_broker)
    client = logged_in(console)

    listing = client.get("/admin/deadletters")
    assert listing.status_code == 200
    assert "old-publisher.jsonl" in listing.text and "old rule" in listing.text
    assert re.search(r'<td class="number">2</td>', listing.text)  # its line in the upload
    one = client.get(f"/admin/deadletters/{hostile_id}")

    for page in (listing.text, one.text):
        assert "<script>alert" not in page
        assert "\x1b" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(" in one.text
    assert "\\x1b[2J\\u202e" in one.text
    assert client.get("/admin/deadletters/99999").status_code == 404


def test_replaying_one_asks_first_ingests_what_is_valid_now_and_is_audited(
    console: Console, stub_broker: StubBroker
) -> None:
    runtime = console.runtime
    hostile_id, valid_id = _letters(runtime, stub_broker)
    client = logged_in(console)

    asked = post_form(client, "/admin/deadletters/replay", {"letter": str(valid_id)})
    assert asked.status_code == 200 and "Replay?" in asked.text
    with runtime.sessions() as session:
        assert session.get(DeadLetter, valid_id).replayed_at is None  # type: ignore[union-attr]

    done = post_form(
        client, "/admin/deadletters/replay", {"letter": str(valid_id), "confirmed": "yes"}
    )
    assert done.status_code == 302
    assert "1 replayed." in client.get(done.location).text
    with runtime.sessions() as session:
        assert session.get(DeadLetter, valid_id).replayed_at is not None  # type: ignore[union-attr]
        events = session.scalars(select(ReceivedEvent.event_id)).all()
    assert "later-valid" in events

    with runtime.sessions() as session:
        reason = session.get(DeadLetter, hostile_id).reason  # type: ignore[union-attr]
    asked = post_form(client, "/admin/deadletters/replay", {})
    assert "the others stay here as they are" in asked.text
    everything = post_form(client, "/admin/deadletters/replay", {"confirmed": "yes"})
    assert "0 replayed, 1 still rejected" in client.get(everything.location).text
    with runtime.sessions() as session:
        assert session.get(DeadLetter, hostile_id).reason == reason  # type: ignore[union-attr]
    with runtime.sessions() as session:
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.after)
            .where(AuditEntry.action == "deadletters.replay")
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(entry) for entry in entries] == [
        (ADMIN_EMAIL, "deadletters.replay", f"dead letter {valid_id}",
         {"replayed": 1, "still_rejected": []}),
        (ADMIN_EMAIL, "deadletters.replay", "all dead letters",
         {"replayed": 0, "still_rejected": [hostile_id]}),
    ]  # fmt: skip


def _big_letters(runtime: Runtime, count: int, size: int) -> None:
    """Letters as POST /events keeps them: each payload up to its 10 MB body limit."""
    with runtime.sessions() as session, session.begin():
        for n in range(count):
            payload = json.dumps({"specversion": "1.0", "id": f"big-{n}", "data": "A" * size})
            row = dead_letter("POST /events", None, f"big-{n}", "no type", payload, runtime.now())
            store_dead_letters(session, [row])


def _peak_bytes(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_list_and_a_replay_of_one_leave_the_other_payloads_in_the_database(
    console: Console, stub_broker: StubBroker
) -> None:
    """50 letters of 10 MB would take 500 MB to list, for reasons of 300 characters."""
    runtime = console.runtime
    hostile_id, _ = _letters(runtime, stub_broker)
    size = 2 * 1024 * 1024
    _big_letters(runtime, 4, size)
    client = logged_in(console)

    listed = _peak_bytes(lambda: client.get("/admin/deadletters"))
    replayed = _peak_bytes(
        lambda: post_form(
            client, "/admin/deadletters/replay", {"letter": str(hostile_id), "confirmed": "yes"}
        )
    )

    assert "big-3" in client.get("/admin/deadletters").text
    assert listed < size, listed
    assert replayed < size, replayed
    audit = client.get("/admin/audit").text
    assert f"dead letter {hostile_id}" in audit and "still_rejected" in audit
