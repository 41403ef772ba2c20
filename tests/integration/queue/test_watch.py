"""The scheduler's gauges say how long deliveries have waited, what dead letters wait, and holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from worker.core.models import DeadLetter, Delivery, Subscriber
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.watch import watch
from worker.sending.control import MemoryControl, new_hold

NOW = datetime(2026, 6, 29, 10, 0, tzinfo=UTC)


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _deliveries(runtime: Runtime, rows: list[tuple[str, timedelta, timedelta]]) -> None:
    """(state, time in that state, time since its due window) per delivery."""
    with runtime.sessions() as session, session.begin():
        for n, (state, in_state, since_due) in enumerate(rows):
            subscriber = Subscriber(email=f"s{n}@example.org", created_at=NOW)
            session.add(subscriber)
            session.flush()
            session.add(Delivery(subscriber_id=subscriber.id, frequency="daily",
                                 window=NOW - since_due, state=state, created_at=NOW - since_due,
                                 updated_at=NOW - in_state))  # fmt: skip


def test_gauges_show_the_oldest_undone_delivery_per_state(runtime: Runtime) -> None:
    _deliveries(runtime, [
        ("sending", timedelta(minutes=9), timedelta(minutes=10)),
        ("sending", timedelta(minutes=1), timedelta(minutes=10)),
        ("queued", timedelta(minutes=3), timedelta(hours=3)),
        ("sent", timedelta(days=2), timedelta(days=2)),  # done: never counted
    ])  # fmt: skip
    runtime.clock = fixed_clock(NOW)
    watch(runtime, None)
    assert _value("trialalerts_deliveries", state="sending") == 2
    assert _value("trialalerts_delivery_oldest_age_seconds", state="sending") == 540
    assert _value("trialalerts_delivery_oldest_age_seconds", state="queued") == 180
    assert _value("trialalerts_delivery_oldest_age_seconds", state="paused") == 0
    assert _value("trialalerts_deliveries", state="building") == 0
    assert _value("trialalerts_digest_oldest_unsent_window_seconds") == 3 * 3600
    assert _value("trialalerts_sending_lease_seconds") == runtime.settings.sending_lease_seconds


def test_when_everything_is_sent_the_gauges_fall_back_to_zero(runtime: Runtime) -> None:
    _deliveries(runtime, [("queued", timedelta(hours=1), timedelta(hours=5))])
    runtime.clock = fixed_clock(NOW)
    watch(runtime, None)
    assert _value("trialalerts_digest_oldest_unsent_window_seconds") == 5 * 3600
    with runtime.sessions() as session, session.begin():
        session.query(Delivery).update({"state": "sent"})
    watch(runtime, None)
    assert _value("trialalerts_digest_oldest_unsent_window_seconds") == 0
    assert _value("trialalerts_delivery_oldest_age_seconds", state="queued") == 0


def test_dead_letters_not_replayed_are_counted(runtime: Runtime) -> None:
    with runtime.sessions() as session, session.begin():
        for n, replayed in enumerate([None, None, NOW]):
            session.add(DeadLetter(origin="http", reason="bad", payload="{}", fingerprint=str(n),
                                   created_at=NOW, replayed_at=replayed))  # fmt: skip
    runtime.clock = fixed_clock(NOW)
    watch(runtime, None)
    assert _value("trialalerts_dead_letters") == 2


def test_a_hold_shows_how_long_sending_has_been_held_and_why(runtime: Runtime) -> None:
    control = MemoryControl()
    runtime.clock = fixed_clock(NOW)
    watch(runtime, control)
    assert _value("trialalerts_sending_hold_seconds", reason="pause") == 0
    since = NOW.timestamp() - 600
    control.set_hold(new_hold("pause", "SendingPausedException", "paused", since, 300))
    watch(runtime, control)
    assert _value("trialalerts_sending_hold_seconds", reason="pause") == 600
    assert _value("trialalerts_sending_hold_seconds", reason="quota") == 0
