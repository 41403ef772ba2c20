"""Sender processes that start their timed part at the same moment.

A figure and its anchor must run under the same concurrency.  Spawning a
process and importing boto3 takes about a second, so processes started one
after the other would ramp up one by one; instead each gets ready (clients
built, account read) and then waits at a barrier, and the timed part starts
when the last one is ready.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

READY_TIMEOUT = 120.0  # seconds for a process to get ready before the run is called off


def wait_for_the_others(barrier: Any) -> None:
    """Called by each process once it is ready; returns when all are."""
    barrier.wait(timeout=READY_TIMEOUT)


def run_together(target: Callable[..., None], args: tuple[Any, ...], processes: int) -> None:
    """Run `target(*args, barrier)` in `processes` fresh processes; raise if one fails.

    `target` must be importable and call `wait_for_the_others(barrier)` when ready.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    started = [context.Process(target=target, args=(*args, barrier)) for _ in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join()
    failed = [process.exitcode for process in started if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {processes} sender processes failed: exit {failed}")
