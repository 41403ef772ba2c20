"""Process loops: `run --until-idle` (in-process drain) and the scheduler's ticks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from worker.core.delivery_states import FEEDBACK_STATES, State
from worker.core.models import Delivery, Notification, ReceivedEvent, StudyChange
from worker.core.runtime import Runtime
from worker.queue.actors import install
from worker.queue.broker import DrainReport, drain, enqueue, make_broker
from worker.queue.pipeline import poll_feedback_queue, schedule_digests
from worker.queue.reconcile import stranded_work
from worker.sending.rows import release_stale_sending

log = logging.getLogger(__name__)
MAX_IDLE_PASSES = 50


@dataclass
class RunReport:
    passes: int = 0
    processed: int = 0
    failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        lines = [f"{name}: {value}" for name, value in self.counts.items()]
        lines += [f"failed: {failure}" for failure in self.failures]
        return lines


def wake_stranded(runtime: Runtime, grace: timedelta | None) -> int:
    """Re-send a wake-up for every unit of work pending longer than `grace`."""
    sent = 0
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    with runtime.sessions() as session, session.begin():
        # Deliveries whose worker died mid-send: back to the queue (an uncertain one
        # at most once, unless SES's Send event has settled it meanwhile).
        release_stale_sending(session, runtime.now(), lease)
    with runtime.sessions() as session:
        work = list(
            stranded_work(session, runtime.now(), grace, runtime.settings.ingest_batch_size)
        )
    for actor_name, ids in work:
        enqueue(runtime.settings, actor_name, ids)
        sent += 1
    return sent


def run_until_idle(runtime: Runtime) -> RunReport:
    """Drain every queue in this process, re-waking pending work, until nothing is left.

    Stops when a pass wakes nothing new, or when the same work keeps failing.
    """
    broker = install(make_broker(runtime.settings, in_process=True))
    if runtime.settings.feedback_queue_url:
        poll_feedback_queue(runtime, wait_seconds=0)  # suppress before sending
    report = RunReport()
    drained = DrainReport()
    while report.passes < MAX_IDLE_PASSES:
        report.passes += 1
        failures_before = len(drained.failures)
        woken = wake_stranded(runtime, None) + schedule_digests(runtime, flush_instant=True)
        drain(broker, drained)
        if not woken or len(drained.failures) > failures_before:
            break
    report.processed, report.failures = drained.processed, drained.failures
    report.counts = counts(runtime)
    return report


def counts(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return {
            "events": session.scalar(select(func.count()).select_from(ReceivedEvent)) or 0,
            "changes": session.scalar(select(func.count()).select_from(StudyChange)) or 0,
            "notifications": session.scalar(select(func.count()).select_from(Notification)) or 0,
            "emails": session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.state.in_((State.SENT, *FEEDBACK_STATES)))
            )
            or 0,
        }
