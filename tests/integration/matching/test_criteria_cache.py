"""The per-process criteria cache never misses a committed criteria row.

PostgreSQL hands out ids when a row is inserted, not when it commits: an
import can hold a lower id open while a sign-up commits a higher one, and a
match batch can run in between.  A load that fails half-way must not skip
rows either.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

from tests.conftest import _truncate, make_runtime
from tests.integration.matching.test_fanout import condition
from tests.integration.pipeline_helpers import notifications_by_email, publish_at, subscribe
from tests.support import event, record
from worker.core.runtime import Runtime, set_runtime
from worker.matching.criteria_index import CriteriaIndex, criteria_index_of
from worker.queue.broker import drain
from worker.queue.runner import wake_stranded
from worker.subscriptions.lists import import_subscriptions
from worker.subscriptions.rows import parse_row

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 2, 9, tzinfo=UTC)
BRAIN = "NCT06171568"  # matches "brain injury" only
HEART = "NCT03475563"  # matches "coronary artery disease" only


@pytest.fixture
def pg_runtime(pg_url: str, tmp_path: Path, stub_broker: StubBroker) -> Iterator[Runtime]:
    _truncate(pg_url)
    runtime = make_runtime(pg_url, tmp_path)
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.close()


def test_a_lower_id_committed_after_a_higher_one_is_still_matched(
    pg_runtime: Runtime, stub_broker: StubBroker
) -> None:
    runtime = pg_runtime
    row = parse_row(condition("early@example.org", "brain injury"))
    with runtime.sessions() as importing, importing.begin():
        # An admin import draws the lower criteria id and keeps its transaction open…
        report = import_subscriptions(importing, [(2, row)], T0)
        assert not report.rejected
        # …while a sign-up commits a higher one and a match batch loads it.
        subscribe(runtime, [condition("late@example.org", "coronary artery disease")])
        publish_at(runtime, stub_broker, T0, event(record(HEART), "heart-1"))
        assert len(criteria_index_of(runtime)) == 1
    publish_at(runtime, stub_broker, T1, event(record(BRAIN), "brain-1"))
    assert notifications_by_email(runtime) == {
        "late@example.org": [(HEART, "new_study")],
        "early@example.org": [(BRAIN, "new_study")],
    }
    assert len(criteria_index_of(runtime)) == 2  # each row loaded once


def test_a_load_that_fails_half_way_skips_no_criteria(
    runtime: Runtime, stub_broker: StubBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(
        runtime,
        [
            condition("ada@example.org", "brain injury"),
            condition("bob@example.org", "coronary artery disease"),
        ],
    )
    stage = CriteriaIndex._stage
    staged: list[int] = []

    def fail_on_the_second_row(self: CriteriaIndex, pending: Any, row: Any) -> None:
        staged.append(row.id)
        if len(staged) == 2:
            raise ConnectionError("the database went away mid-load")
        stage(self, pending, row)

    monkeypatch.setattr(CriteriaIndex, "_stage", fail_on_the_second_row)
    publish_at(runtime, stub_broker, T0, event(record(BRAIN), "brain-1"))
    assert len(staged) == 2 and notifications_by_email(runtime) == {}

    monkeypatch.setattr(CriteriaIndex, "_stage", stage)
    wake_stranded(runtime, None)  # the reconciler wakes the unmatched changes again
    drain(stub_broker)
    assert notifications_by_email(runtime) == {"ada@example.org": [(BRAIN, "new_study")]}
