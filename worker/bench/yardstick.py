"""How fast this machine runs plain Python during a run: the yardstick its figures are read by.

Figures in events/s or digests/s move with the machine: a 2-core virtual
machine has run the same code several times slower from one day to the next,
while ratios moved less.  The bench times one fixed pure-Python loop before its
first scenario and after its last, and writes both beside the machine, so two
runs' figures can be compared knowing how fast each machine was and whether
its speed changed during the run.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

LOOP_STEPS = 1_000_000
TURNS = 3  # the best turn: a turn slowed by another process says little about the machine


def loop_seconds(steps: int = LOOP_STEPS, turns: int = TURNS) -> float:
    """Seconds of the fastest of `turns` runs of a `steps`-step summing loop."""
    best = float("inf")
    for _ in range(turns):
        start = perf_counter()
        total = 0
        for step in range(steps):
            total += step
        best = min(best, perf_counter() - start)
    return best


def speed(before: float, after: float) -> dict[str, Any]:
    """The JSON host's `speed`: what was timed, and its seconds before and after the run."""
    return {"loop_steps": LOOP_STEPS, "turns": TURNS, "before_seconds": before,
            "after_seconds": after}  # fmt: skip


def speed_note(reading: dict[str, Any]) -> str:
    """The Markdown heading's words for a `speed` reading."""
    return (
        f"a {reading['loop_steps']:,}-step Python loop took "
        f"{reading['before_seconds'] * 1000:.0f} ms before the run and "
        f"{reading['after_seconds'] * 1000:.0f} ms after it (best of {reading['turns']})"
    )
