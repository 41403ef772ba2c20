"""Changing an alert's filters while another change of the same subscriber is under way."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, text

from tests.integration.pipeline_helpers import subscribe
from worker.core.models import Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.subscriptions.preferences import SameAlert, change_alert
from worker.subscriptions.rows import parse_row

ADA = {"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"}


def _blocked(runtime: Runtime) -> bool:
    """Whether a session of this database waits for a lock (PostgreSQL; SQLite waits to begin)."""
    if runtime.engine.dialect.name != "postgresql":
        return True
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with runtime.engine.connect() as connection:
        return bool(connection.scalar(query))


def test_two_alerts_given_one_question_at_once_is_same_alert_not_a_crash(
    runtime: Runtime,
) -> None:
    """Each check saw no clash; the second UPDATE broke the unique identity (a 500 page)."""
    subscribe(runtime, [ADA | {"age": 40}, ADA | {"age": 41}])
    with runtime.sessions() as session:
        subscriber = session.scalar(select(Subscriber.id))
        first, second = session.scalars(select(Subscription.id).order_by(Subscription.id))
    assert subscriber is not None
    row, now = parse_row(ADA | {"age": 50}), runtime.now()
    outcome: list[object] = []

    def change_second() -> None:
        with runtime.sessions() as session, session.begin():
            try:
                outcome.append(change_alert(session, subscriber, second, row, now))
            except SameAlert as error:
                outcome.append(error)

    with runtime.sessions() as session, session.begin():
        assert change_alert(session, subscriber, first, row, now)
        other = threading.Thread(target=change_second)
        other.start()
        deadline = time.monotonic() + 10
        while not _blocked(runtime) and time.monotonic() < deadline:
            time.sleep(0.01)
    other.join(10)
    assert [type(found) for found in outcome] == [SameAlert]
    with runtime.sessions() as session:
        ages = session.execute(select(Subscription.id, Subscription.age).order_by(Subscription.id))
        assert ages.all() == [(first, 50), (second, 41)]
