"""The matching bench's stopwatches: each second counted once, by the part it belongs to."""

from __future__ import annotations

import time

from worker.bench.matching_run import _Stopwatch


def test_evaluation_inside_previous_snapshots_and_nested_calls_count_once() -> None:
    previous = _Stopwatch()
    evaluation = _Stopwatch(outside=previous)
    inner = evaluation.timed(lambda: time.sleep(0.02))
    outer = evaluation.timed(lambda: inner())  # an evaluated function calling another
    before = previous.timed(lambda: inner())  # a previous snapshot evaluated

    outer()
    before()

    assert 0.02 <= evaluation.seconds < 0.035
    assert 0.02 <= previous.seconds < 0.035
