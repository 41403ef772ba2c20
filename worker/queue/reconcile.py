"""The reconciler: find work whose wake-up message was lost and wake it again.

Queue messages are only wake-ups; every unit of work is a row with a state.
Re-sending a message for work already in flight is harmless because every
step is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.delivery_states import State
from worker.core.models import AdminImport, Delivery, ReceivedEvent, Signup, StudyChange
from worker.subscriptions.uploads import RUNNING


def _batched_ids(session: Session, query, size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    for (pk,) in session.execute(query.execution_options(yield_per=size)):
        batch.append(pk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def stranded_work(
    session: Session, now: datetime, grace: timedelta | None, batch_size: int = 500
) -> Iterator[tuple[str, list[int]]]:
    """(actor name, ids) for work pending longer than `grace` (None: all pending work)."""
    events = select(ReceivedEvent.id).where(ReceivedEvent.outcome == "pending")
    if grace is not None:
        events = events.where(ReceivedEvent.received_at <= now - grace)
    for batch in _batched_ids(session, events.order_by(ReceivedEvent.id), batch_size):
        yield "events.ingest", batch
    changes = select(StudyChange.event_pk).where(StudyChange.matched_at.is_(None))
    if grace is not None:
        changes = changes.where(StudyChange.created_at <= now - grace)
    for batch in _batched_ids(
        session, changes.distinct().order_by(StudyChange.event_pk), batch_size
    ):
        yield "changes.match", batch
    for state, actor_name in (
        (State.BUILDING, "digests.build"),
        (State.QUEUED, "deliveries.send"),
        (State.PAUSED, "deliveries.send"),  # re-checked against the 24-hour quota
    ):
        deliveries = select(Delivery.id).where(Delivery.state == state)
        if grace is not None:
            deliveries = deliveries.where(Delivery.updated_at <= now - grace)
        for batch in _batched_ids(session, deliveries.order_by(Delivery.id), 100):
            yield actor_name, batch
    # Sign-ups whose confirmation mail has not gone yet, while their link is open.
    signups = select(Signup.id).where(
        Signup.mailed_at.is_(None), Signup.confirmed_at.is_(None), Signup.expires_at > now
    )
    if grace is not None:
        signups = signups.where(Signup.created_at <= now - grace)
    for batch in _batched_ids(session, signups.order_by(Signup.id), 100):
        yield "signups.mail", batch
    # Console imports waiting for their dry run or apply (a run in progress ignores the wake-up).
    imports = select(AdminImport.id).where(AdminImport.state.in_(RUNNING))
    if grace is not None:
        imports = imports.where(AdminImport.created_at <= now - grace)
    for batch in _batched_ids(session, imports.order_by(AdminImport.id), 10):
        yield "imports.run", batch
