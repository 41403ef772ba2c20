"""One row of `trialalerts bench`: a figure, the anchor measured in the same run, their ratio."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BenchRow:
    scenario: str  # e.g. "matching 1M subscriptions"
    figure: float  # what we measured
    unit: str  # e.g. "events/s"
    anchor: float | None  # the reference measured in the same run (None: no anchor)
    anchor_name: str  # what the anchor is, e.g. "matching at 10k" or "PostgreSQL COPY"
    target: str = ""  # the target, in words, e.g. ">= 10,000 events/s"
    note: str = ""
    met: bool | None = None  # whether the figure meets the target; None: not judged here

    @property
    def ratio(self) -> float | None:
        return self.figure / self.anchor if self.anchor else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": self.ratio}
