"""What sending costs the database: a budget per delivery, so per-row round trips stay out.

Each message needs one short transaction (the outcome of the one before, the
check and in-flight mark of this one: two statements); claiming and reading a
chunk costs a few statements for the whole chunk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import ceil

from sqlalchemy import func, select

from tests.integration.sending.test_precompiled import driver_calls
from worker.bench.sample_deliveries import queue_deliveries
from worker.core.models import Delivery
from worker.core.runtime import Runtime
from worker.sending.loop import CHUNK, send_deliveries
from worker.sending.senders import sender_of

NOW = datetime(2026, 6, 29, 8, 5, tzinfo=UTC)
DELIVERIES = 60
PER_CHUNK = 8  # claim, rows, notifications and what the digests read of them, closing write


def test_sending_takes_two_statements_a_delivery(runtime: Runtime) -> None:
    ids = queue_deliveries(runtime.sessions, DELIVERIES)
    sender = sender_of(runtime)
    with driver_calls(runtime.engine) as calls:
        result = send_deliveries(runtime.sessions, runtime.settings, sender, ids, NOW)
    assert sorted(result.sent) == ids
    with runtime.sessions() as session:
        states = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        assert dict(states.all()) == {"sent": DELIVERIES}
    budget = 2 * DELIVERIES + PER_CHUNK * ceil(DELIVERIES / CHUNK) + 1
    assert len(calls) <= budget, "\n".join(sql for sql, _ in calls)
