"""How big a benchmark run is: `tiny` for tests (seconds), `quick` (minutes), `full`."""

from __future__ import annotations

from typing import Literal, TypeVar

Scale = Literal["tiny", "quick", "full"]
T = TypeVar("T")


def by_scale(scale: Scale, tiny: T, quick: T, full: T) -> T:
    return {"tiny": tiny, "quick": quick, "full": full}[scale]
