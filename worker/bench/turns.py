"""Rows whose figure and anchor are close to each other run both in turns, each its best turn.

On a shared 2-core machine one run of each varies by about the margin such a
ratio is judged by.  Running them alternately puts both under the same
conditions, and the best turn of each is the run least slowed by anything
else.  The spread of the turn-by-turn ratios goes in the row's note.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.bench.scale import Scale, by_scale


def turns(scale: Scale) -> int:
    return by_scale(scale, 1, 5, 5)


def best_of_turns(anchor_name: str, count: int) -> str:
    """The anchor's name, saying how it and the figure were measured."""
    return f"{anchor_name}, best of {count} runs each taken in turns"


def spread(ratios: Sequence[float]) -> str:
    """The note's words for the ratios of each turn."""
    return f"turn by turn the ratio read {min(ratios):.2f} to {max(ratios):.2f}"
