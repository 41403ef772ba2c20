"""A dramatiq worker process freezes the heap it booted with, once; nothing else does."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from worker.core.config import Settings
from worker.queue.boot_heap import FrozenBootHeap
from worker.queue.broker import make_broker

BROKER_URL = "redis://127.0.0.1:6379/11"  # a broker object only: nothing connects


@pytest.fixture(autouse=True)
def _nothing_frozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen, and collects only when it says so."""
    gc.unfreeze()
    gc.disable()
    yield
    gc.enable()
    gc.unfreeze()


def _frozen(obj: object) -> bool:
    """Tracked, yet in none of the three generations: in the permanent one."""
    return gc.is_tracked(obj) and all(other is not obj for other in gc.get_objects())


def test_a_worker_process_freezes_what_it_booted_with() -> None:
    broker = make_broker(Settings(broker_url=BROKER_URL))
    booted = [object()]  # stands for what the process imported
    assert gc.get_freeze_count() == 0
    broker.emit_after("process_boot")  # dramatiq's CLI, in each worker process
    assert gc.get_freeze_count() > 0
    assert _frozen(booted)
    assert not _frozen([object()])  # made after the boot


class _Node:
    me: _Node


def test_garbage_left_by_the_boot_is_collected_not_frozen() -> None:
    node = _Node()
    node.me = node  # a reference cycle: only a collection frees it
    gone = weakref.ref(node)
    del node
    FrozenBootHeap().after_process_boot(StubBroker())
    assert gone() is None


def test_a_worker_started_in_process_freezes_nothing() -> None:
    """Tests and benches start dramatiq Workers in their own process: no process boot there."""
    broker = StubBroker()
    broker.add_middleware(FrozenBootHeap())
    worker = Worker(broker, worker_threads=1)
    worker.start()
    try:
        assert gc.get_freeze_count() == 0
    finally:
        worker.stop()
        broker.close()
