"""A console import on a real dramatiq Worker is not cut short by dramatiq's time limit.

dramatiq interrupts an actor after 10 minutes by default (TimeLimitExceeded,
which no `except Exception` catches): a dry run of a 50 MB file on a busy
machine takes longer, would be left `checking`, woken again by the
reconciler, and start over, never to finish.  Here the default is scaled
down to 0.2 s against an import of 0.6 s.
"""

from __future__ import annotations

import time

import pytest
from dramatiq import Message, Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import TimeLimit, default_middleware

from worker.core.runtime import Runtime
from worker.queue import actors
from worker.queue.actors import declare
from worker.queue.broker import QUEUES


def test_an_import_runs_past_dramatiqs_default_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finished: list[int] = []

    def slow_import(_runtime: Runtime, import_id: int) -> None:
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            time.sleep(0.01)  # the interrupt lands between two of these
        finished.append(import_id)

    monkeypatch.setattr(actors, "get_runtime", lambda: None)
    monkeypatch.setattr(actors.uploads, "run_import", slow_import)
    middleware = [
        TimeLimit(time_limit=200, interval=20) if kind is TimeLimit else kind()
        for kind in default_middleware
    ]
    broker = StubBroker(middleware=middleware)
    declare(broker)
    broker.emit_after("process_boot")  # as `dramatiq` does in each worker process
    queue = QUEUES["imports.run"]
    broker.enqueue(Message(queue, "imports.run", ([7],), {}, {}))
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(queue)
    finally:
        worker.stop()

    assert finished == [7]
