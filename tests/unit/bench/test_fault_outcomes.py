"""Fault runs: duplicates are counted against the sends a SIGKILL interrupted, not assumed away."""

from __future__ import annotations

import json
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from worker.bench import send_events
from worker.bench.fake_ses import Arrival
from worker.bench.fault_runs import FaultRun, Outcome, outcome_rows
from worker.bench.send_events import SendEvents


def _no_fault(deployment: object, expected: int) -> None:
    return None


WITH_EVENTS = FaultRun("SIGKILL x10", _no_fault, True)
WITHOUT_EVENTS = FaultRun("SIGKILL x10, event publishing off", _no_fault, False)


def _outcome(sends: dict[str, int], interrupted: dict[str, int], claimed: int = 5) -> Outcome:
    return Outcome(claimed, Counter(sends), Counter(interrupted), 12.0)


def test_with_send_events_every_digest_must_arrive_exactly_once() -> None:
    clean = _outcome({"1": 1, "2": 1, "3": 1}, {"2": 1}, claimed=3)
    twice = _outcome({"1": 1, "2": 2, "3": 1}, {"2": 1}, claimed=3)

    [row] = outcome_rows(WITH_EVENTS, "faults", clean, "events")
    [missed] = outcome_rows(WITH_EVENTS, "faults", twice, "events")

    assert (row.figure, row.anchor, row.met) == (3, 3, True)
    assert row.note.startswith("0 lost, 0 sent twice, 1 sends interrupted; events; 12 s")
    assert (missed.figure, missed.met) == (2, False)


def test_without_send_events_a_resend_per_interrupted_send_is_allowed_and_counted() -> None:
    outcome = _outcome({"1": 1, "2": 2, "3": 1, "4": 3, "5": 1}, {"2": 1, "4": 2, "5": 1})

    delivered, twice, beyond = outcome_rows(WITHOUT_EVENTS, "faults", outcome, "no events")

    assert (delivered.figure, delivered.anchor, delivered.met) == (5, 5, True)
    assert (twice.figure, twice.anchor, twice.met) == (2, 4, None)
    assert (beyond.figure, beyond.met) == (0, True)


def test_a_resend_no_interruption_explains_misses_the_claim() -> None:
    outcome = _outcome({"1": 2, "2": 3, "3": 1}, {"2": 1}, claimed=4)

    delivered, _, beyond = outcome_rows(WITHOUT_EVENTS, "faults", outcome, "no events")

    assert outcome.lost == 1 and (delivered.figure, delivered.met) == (3, False)
    assert (beyond.figure, beyond.met) == (2, False)  # delivery 1 once, delivery 2 once too many


def _arrival(n: int) -> Arrival:
    return Arrival(time.time(), (f"r{n}@example.org",), {"delivery": str(n)}, b"", f"m{n}", None)


def test_send_events_come_after_their_delay_and_only_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]  # the module's monotonic clock, moved by hand: no stall can reach the delay
    monkeypatch.setattr(send_events, "time", SimpleNamespace(monotonic=lambda: now[0]))
    events = SendEvents((0.05, 0.1))
    events.on_send(_arrival(7))

    assert events.take_due() == []
    now[0] += 0.04
    assert events.take_due() == []
    now[0] += 0.08
    [notification] = events.take_due()
    assert events.take_due() == []
    message = json.loads(json.loads(notification)["Message"])
    assert message["eventType"] == "Send" and message["mail"]["tags"] == {"delivery": ["7"]}


def test_with_publishing_off_no_event_ever_comes() -> None:
    events = SendEvents(None)
    events.on_send(_arrival(1))
    assert not events.published and events.take_due() == []
    assert events.describe() == "event publishing off: no Send events"


def test_instant_events_are_due_at_once() -> None:
    events = SendEvents()
    events.on_send(_arrival(1))
    assert len(events.take_due()) == 1
