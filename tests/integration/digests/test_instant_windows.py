"""Instant digests: one window at a time per subscriber, however long its build waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.support import event, record, with_changes
from worker.core.models import Delivery
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.broker import drain
from worker.queue.pipeline import schedule_digests

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
LUNG = "NCT04267848"


def states(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Delivery.state).order_by(Delivery.id)))


def ticks(runtime: Runtime, start: datetime, count: int) -> list[int]:
    """Scheduler ticks 15 s apart while nothing drains the queue: digests claimed by each."""
    claimed = []
    for n in range(count):
        runtime.clock = fixed_clock(start + timedelta(seconds=15 * n))
        claimed.append(schedule_digests(runtime))
    return claimed


def test_ticks_while_a_build_waits_claim_no_further_instant_window(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    ada = {"email": "ada@example.org", "frequency": "instant"}
    subscribe(runtime, [{**ada, "kind": "study", "nct_id": LUNG}])
    publish_at(runtime, stub_broker, T0, event(record(LUNG), "i1"))
    due = T0 + timedelta(seconds=runtime.settings.instant_delay_seconds)

    assert ticks(runtime, due, 4) == [1, 0, 0, 0]
    drain(stub_broker)
    assert states(runtime) == ["sent"]  # one email, no pile of empty windows

    # Once that build is done, the next notification gets its own window.
    later = T0 + timedelta(hours=1)
    update = with_changes(record(LUNG), overallStatus="COMPLETED")
    publish_at(runtime, stub_broker, later, event(update, "i2", time="2026-06-28T09:00:00Z"))
    assert ticks(runtime, later + (due - T0), 2) == [1, 0]
    drain(stub_broker)
    assert states(runtime) == ["sent", "sent"]
