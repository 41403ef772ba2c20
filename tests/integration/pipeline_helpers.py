"""Shared steps for pipeline tests: subscriptions from rows, publish, drain with a clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from worker.core.models import Notification, StudyChange, Subscriber
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.broker import drain
from worker.queue.pipeline import publish, schedule_digests
from worker.subscriptions.lists import import_subscriptions
from worker.subscriptions.rows import parse_row


def subscribe(runtime: Runtime, rows: Iterable[Mapping[str, Any]]) -> None:
    items = [(line, parse_row(row)) for line, row in enumerate(rows, start=2)]
    with runtime.sessions() as session, session.begin():
        report = import_subscriptions(session, items, runtime.now())
    assert not report.rejected, report.rejected


def publish_at(runtime: Runtime, broker: StubBroker, when: datetime, events: Any) -> None:
    runtime.clock = fixed_clock(when)
    report = publish(events)
    assert not report.rejections, report.rejections
    drain(broker)


def tick(runtime: Runtime, broker: StubBroker, when: datetime, flush: bool = False) -> int:
    """One scheduler tick at `when`, then everything it woke; returns digests claimed."""
    runtime.clock = fixed_clock(when)
    claimed = schedule_digests(runtime, flush_instant=flush)
    drain(broker)
    return claimed


def notifications_by_email(runtime: Runtime) -> dict[str, list[tuple[str, str]]]:
    """email → [(nct_id, change kind)] of every notification."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Notification.nct_id, StudyChange.kind)
            .join(Subscriber, Subscriber.id == Notification.subscriber_id)
            .join(StudyChange, StudyChange.id == Notification.change_id)
            .order_by(Notification.id)
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for email, nct_id, kind in rows:
            found.setdefault(email, []).append((nct_id, kind))
        return found
