"""Rates read off the SES endpoint's own record of arrivals (pure functions over times).

What counts is what arrived at the endpoint, not what the senders meant to
do: a pacing figure is the number of sends that arrived in each second, and a
throughput anchor is arrivals over the time they took.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import mean


def per_second_counts(times: Sequence[float]) -> list[int]:
    """Arrivals in each whole second from the first arrival on, the last partial one left out.

    Second k holds the arrivals at t with first + k <= t < first + k + 1.
    """
    if not times:
        return []
    first = min(times)
    whole = math.floor(max(times) - first)
    counts = [0] * whole
    for moment in times:
        second = math.floor(moment - first)
        if second < whole:
            counts[second] += 1
    return counts


def rate_per_second(times: Sequence[float]) -> float | None:
    """The mean of the per-second counts; None when not even one whole second was seen."""
    counts = per_second_counts(times)
    return mean(counts) if counts else None


def span_rate(times: Sequence[float]) -> float | None:
    """Arrivals per second between the first and the last arrival; None with fewer than two."""
    if len(times) < 2 or max(times) == min(times):
        return None
    return (len(times) - 1) / (max(times) - min(times))
