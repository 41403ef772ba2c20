"""Fuzzing the event path: whatever arrives, nothing crashes, every rejection has a reason,
and every item is either stored or dead-lettered."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from tests.conftest import make_runtime
from tests.support import event, record
from worker.core.models import Base, DeadLetter, ReceivedEvent
from worker.core.runtime import Runtime, set_runtime
from worker.ingest.events import Rejection, StudyEvent, read_items, validate
from worker.queue.actors import install
from worker.queue.broker import drain
from worker.queue.pipeline import publish_stream

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
BASE = event(record("NCT00973089"), "fuzz")
PATHS = [
    ("id",),
    ("source",),
    ("type",),
    ("time",),
    ("subject",),
    ("specversion",),
    ("data",),
    ("data", "protocolSection"),
    ("data", "protocolSection", "identificationModule", "nctId"),
    ("data", "protocolSection", "statusModule"),
    ("data", "protocolSection", "statusModule", "lastUpdateSubmitDate"),
    ("data", "protocolSection", "contactsLocationsModule", "locations"),
    ("data", "derivedSection", "conditionBrowseModule", "meshes"),
    ("data", "hasResults"),
]


@st.composite
def mutated_events(draw: st.DrawFn) -> dict:
    """A valid event with a few fields replaced by arbitrary JSON or deleted."""
    value = copy.deepcopy(BASE)
    value["id"] = draw(st.text(min_size=1, max_size=12))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = value
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            if draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(JSON)
    return value


LINES = st.one_of(
    mutated_events().map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
)


@pytest.fixture(scope="module")
def fuzz_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, StubBroker]]:
    path: Path = tmp_path_factory.mktemp("fuzz")
    runtime = make_runtime(f"sqlite:///{path / 'fuzz.db'}", path)
    set_runtime(runtime)
    broker = StubBroker()
    install(broker)
    yield runtime, broker
    set_runtime(None)
    runtime.close()


def _clear(runtime: Runtime) -> None:
    with runtime.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, min_size=1, max_size=8))
def test_any_lines_are_accepted_or_rejected_with_a_reason(lines: list[str]) -> None:
    payload = ("\n".join(lines) + "\n").encode()
    for item in read_items(io.BytesIO(payload)):
        result = validate(item)
        assert isinstance(result, StudyEvent | Rejection)
        if isinstance(result, Rejection):
            assert result.reason.strip() and result.where


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(LINES, min_size=1, max_size=6))
def test_nothing_is_lost_and_ingest_never_crashes(
    fuzz_runtime: tuple[Runtime, StubBroker], lines: list[str]
) -> None:
    runtime, broker = fuzz_runtime
    _clear(runtime)
    payload = ("\n".join(lines) + "\n").encode()
    report = publish_stream(io.BytesIO(payload), "fuzz")
    drained = drain(broker)
    assert drained.failures == []
    items = sum(1 for _ in read_items(io.BytesIO(payload)))
    assert report.accepted + report.duplicates + len(report.rejections) == items
    assert all(r.reason.strip() for r in report.rejections)
    with runtime.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(ReceivedEvent))
        kept = session.scalar(select(func.count()).select_from(DeadLetter))
        pending = session.scalar(
            select(func.count())
            .select_from(ReceivedEvent)
            .where(ReceivedEvent.outcome == "pending")
        )
    assert stored == report.accepted and pending == 0
    assert kept == len({r.raw for r in report.rejections})
