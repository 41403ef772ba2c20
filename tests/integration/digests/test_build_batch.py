"""Building a batch of digests: every pending notification bound once, a few statements in all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, insert, select, update

from worker.bench.sample_deliveries import QUEUED_AT, queue_deliveries
from worker.core.delivery_states import State
from worker.core.models import Delivery, Notification
from worker.core.runtime import Runtime
from worker.digests.jobs import bind_notifications

NOW = datetime(2026, 6, 29, 8, 1, tzinfo=UTC)


def _building(runtime: Runtime, count: int) -> list[int]:
    """`count` daily digests claimed and not built yet, one pending notification each."""
    ids = queue_deliveries(runtime.sessions, count)
    with runtime.sessions() as session, session.begin():
        session.execute(update(Notification).values(delivery_id=None))
        session.execute(update(Delivery).values(state=State.BUILDING, item_count=0))
    return ids


def _deliveries(runtime: Runtime) -> dict[int, tuple[str, int]]:
    with runtime.sessions() as session:
        rows = session.execute(select(Delivery.id, Delivery.state, Delivery.item_count))
        return {row.id: (row.state, row.item_count) for row in rows}


def test_a_batch_binds_each_stream_to_its_delivery_in_a_few_statements(
    runtime: Runtime,
) -> None:
    ids = _building(runtime, 40)
    statements: list[str] = []

    def count(*args: Any) -> None:
        if not args[2].startswith("BEGIN"):
            statements.append(args[2])

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        with runtime.sessions() as session, session.begin():
            queued = bind_notifications(session, ids, NOW)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert queued == ids
    assert _deliveries(runtime) == {i: (State.QUEUED, 1) for i in ids}
    with runtime.sessions() as session:
        bound = session.execute(select(Notification.subscriber_id, Notification.delivery_id))
        by_subscriber = dict(bound.all())
    with runtime.sessions() as session:
        owners = dict(session.execute(select(Delivery.subscriber_id, Delivery.id)).all())
    assert by_subscriber == owners
    assert len(statements) <= 4, "\n".join(statements)


def test_a_digest_with_nothing_pending_is_empty_and_a_second_window_of_a_stream_too(
    runtime: Runtime,
) -> None:
    first, second, *_ = ids = _building(runtime, 3)
    with runtime.sessions() as session, session.begin():
        owners = dict(session.execute(select(Delivery.id, Delivery.subscriber_id)).all())
        session.execute(delete(Notification).where(Notification.subscriber_id == owners[second]))
        later = session.execute(
            insert(Delivery)
            .values(
                subscriber_id=owners[first],
                frequency="daily",
                window=QUEUED_AT + timedelta(days=1),
                state=State.BUILDING,
                item_count=0,
                attempts=0,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(Delivery.id)
        ).scalar_one()
    with runtime.sessions() as session, session.begin():
        queued = bind_notifications(session, [*ids, later], NOW)
    assert queued == [first, ids[2]]
    states = _deliveries(runtime)
    assert states[second] == (State.EMPTY, 0) and states[later] == (State.EMPTY, 0)
    assert states[first] == (State.QUEUED, 1)
    with runtime.sessions() as session, session.begin():
        assert bind_notifications(session, [*ids, later], NOW) == []  # built once
