"""However small the chunks, fan-out makes the rows it makes in one chunk, each once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from worker.core.models import Criteria, Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.matching import fanout
from worker.matching.fanout import ChangeRef
from worker.matching.nearby import NEAREST, OPENED, SiteNote, site_note

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NCT_IDS = ("NCT00000001", "NCT00000002")


class Sites:
    """Any event's nearest site: nearer for a wider circle, none for the smallest."""

    def __init__(self, event_pk: int) -> None:
        self.event_pk = event_pk

    def nearest_note(self, lat: float, lon: float, km: float) -> SiteNote | None:
        if km < 20:
            return None
        return site_note(NEAREST, {"facility": f"f{self.event_pk}"}, km / (lat + self.event_pk))


subscriptions = st.lists(
    st.tuples(
        st.integers(0, 5),  # subscriber (an index into the ids)
        st.one_of(st.integers(1, 3), st.sampled_from(NCT_IDS)),  # criteria, or a followed study
        st.sampled_from(["instant", "daily", "weekly"]),
        st.sampled_from([None, 10.0, 50.0]),  # near km
        st.booleans(),  # active
    ),
    max_size=25,
)
events = st.lists(
    st.tuples(
        st.sampled_from(NCT_IDS),
        st.integers(1, 3),  # changes
        st.lists(st.tuples(st.integers(1, 3), st.booleans()), max_size=4),  # fires (opened?)
    ),
    min_size=1,
    max_size=6,
)


def _load(session: Session, ids: list[int], subs: list[tuple[Any, ...]]) -> None:
    for table in (Subscription, Criteria, Subscriber):
        session.execute(delete(table))
    session.execute(
        insert(Subscriber), [{"id": i, "email": f"{i}@example.org", "created_at": NOW} for i in ids]
    )
    session.execute(
        insert(Criteria),
        [
            {"id": c, "signature": str(c), "words": "w", "match_key": "w"}
            | {"statuses": [], "countries": [], "created_at": NOW}
            for c in (1, 2, 3)
        ],
    )
    rows = []
    for n, (who, asked, frequency, km, active) in enumerate(subs):
        follows = isinstance(asked, str)
        rows.append(
            {"subscriber_id": ids[who], "identity": f"s{n}", "frequency": frequency}
            | {"kind": "study" if follows else "condition", "active": active}
            | {"nct_id": asked if follows else None, "criteria_id": None if follows else asked}
            | {"near_lat": km and 1.0, "near_lon": km and 1.0, "near_km": km}
            | {"created_at": NOW, "updated_at": NOW}
        )
    if rows:
        session.execute(insert(Subscription), rows)


def _rows(session: Session, fires: Any, by_event: Any, chunk: int) -> dict[Any, Any]:
    made: list[dict[str, Any]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fanout, "ROWS_PER_CHUNK", chunk)
        patch.setattr(fanout, "write_notifications", lambda _s, rows: made.extend(rows))
        sites: Any = Sites  # a StudySites stand-in: only nearest_note is asked
        assert fanout._fan_out(session, fires, by_event, NOW, sites) == len(made)
    keyed = {(row["subscriber_id"], row["change_id"]): row for row in made}
    assert len(keyed) == len(made), "a (subscriber, change) made twice"
    return keyed


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.integers(1, 2**40), min_size=6, max_size=6, unique=True),
    subs=subscriptions,
    batch=events,
    chunk=st.integers(1, 4),
)
def test_chunks_and_subscriber_ranges_make_the_rows_of_one_chunk(
    runtime: Runtime,
    ids: list[int],
    subs: list[tuple[Any, ...]],
    batch: list[tuple[Any, ...]],
    chunk: int,
) -> None:
    by_event: dict[int, list[ChangeRef]] = {}
    fires: dict[int, list[fanout.Fire]] = {}
    change_id = 0
    for event_pk, (nct_id, changes, fired) in enumerate(batch, start=1):
        by_event[event_pk] = [
            ChangeRef(change_id := change_id + 1, event_pk, nct_id, "status")
            for _ in range(changes)
        ]
        fires[event_pk] = [
            (criteria_id, by_event[event_pk][-1], site_note(OPENED, {}, 5.0) if opened else None)
            for criteria_id, opened in fired
        ]
    with runtime.sessions() as session:
        _load(session, ids, subs)
        whole = _rows(session, fires, by_event, 10**9)
        assert _rows(session, fires, by_event, chunk) == whole
        session.rollback()
