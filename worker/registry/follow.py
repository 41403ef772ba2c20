"""Followed studies, re-fetched by id now and then.

A study can flip to UNKNOWN status with no new update date, so the
incremental poll (by LastUpdatePostDate) never sees it; fetching the studies
that subscribers follow by id catches that.  A followed study the registry
does not return is reported, never removed: the registry keeps withdrawn
studies, so an absence is more likely an outage or a typo than a removal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.models import Subscription

# 100 ids keep a request's URL near 1.5 KB, well under the ~8 KB servers accept.
FOLLOW_BATCH = 100


def followed_ids(session: Session) -> list[str]:
    """The NCT ids of every active study subscription, each once, in order."""
    found = session.scalars(
        select(Subscription.nct_id)
        .where(Subscription.kind == "study", Subscription.active.is_(True))
        .where(Subscription.nct_id.is_not(None))
        .distinct()
    )
    return sorted({nct_id.upper() for nct_id in found if nct_id})


def refresh_due(followed_at: datetime | None, now: datetime, every_hours: float) -> bool:
    return followed_at is None or now - followed_at >= timedelta(hours=every_hours)


def batches(nct_ids: list[str], size: int = FOLLOW_BATCH) -> Iterator[list[str]]:
    for start in range(0, len(nct_ids), size):
        yield nct_ids[start : start + size]


def missing(asked: Iterable[str], returned: Iterable[str | None]) -> list[str]:
    got = {nct_id for nct_id in returned if nct_id}
    return [nct_id for nct_id in asked if nct_id not in got]
