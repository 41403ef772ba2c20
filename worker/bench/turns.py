"""Rows whose figure and anchor are close to each other run both in turns.

On a shared 2-core machine one run of each varies by about the margin such a
ratio is judged by.  Running them alternately puts both under the same
conditions; the spread of the turn-by-turn ratios goes in the row's note.

Two ways to read the turns.  When figure and anchor take about as long as
each other (the two matching mixes), each is its best turn: the run least
slowed by anything else.  When the anchor is much shorter than the figure
(bare rendering against the whole send-ready path), a short run catches a
quiet moment more often than a long one, and the best of each would lean the
ratio towards the anchor: the row is the turn whose ratio is the median, its
figure and anchor measured side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.bench.scale import Scale, by_scale


def turns(scale: Scale) -> int:
    return by_scale(scale, 1, 5, 5)


def best_of_turns(anchor_name: str, count: int) -> str:
    """The anchor's name, saying that it and the figure are each their best turn."""
    return f"{anchor_name}, best of {count} runs each taken in turns"


def median_turn(ratios: Sequence[float]) -> int:
    """The index of the turn whose ratio is the median (the higher middle one of an even count)."""
    ordered = sorted(range(len(ratios)), key=ratios.__getitem__)
    return ordered[len(ordered) // 2]


def in_the_median_turn(anchor_name: str, count: int) -> str:
    """The anchor's name, saying that it and the figure come from the median turn."""
    return f"{anchor_name}, same turn: the one of {count} taken in turns with the median ratio"


def spread(ratios: Sequence[float]) -> str:
    """The note's words for the ratios of each turn."""
    return f"turn by turn the ratio read {min(ratios):.2f} to {max(ratios):.2f}"
