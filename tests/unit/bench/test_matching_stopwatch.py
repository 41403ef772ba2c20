"""The matching bench's stopwatches: each second counted once, by the part it belongs to."""

from __future__ import annotations

import time

from worker.bench.matching_run import _Stopwatch

# A sleep counted twice makes at least 2 * SLEEP, so a sleep counted once may overrun
# by up to SLEEP: a loaded machine can wake the sleeper tens of milliseconds late.
SLEEP = 0.1


def test_evaluation_inside_previous_snapshots_and_nested_calls_count_once() -> None:
    previous = _Stopwatch()
    evaluation = _Stopwatch(outside=previous)
    inner = evaluation.timed(lambda: time.sleep(SLEEP))
    outer = evaluation.timed(lambda: inner())  # an evaluated function calling another
    before = previous.timed(lambda: inner())  # a previous snapshot evaluated

    outer()
    before()

    assert SLEEP <= evaluation.seconds < 2 * SLEEP
    assert SLEEP <= previous.seconds < 2 * SLEEP
