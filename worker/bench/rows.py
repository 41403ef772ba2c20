"""One row of `trialalerts bench`: a figure, the anchor measured in the same run, the target.

A target is a comparison the bench evaluates (`Target`), shown as its text:
`met` is computed from the figure and the ratio, never written by hand.  A
scenario that could not run is a row with no figure and a `reason`; such a
row never meets anything, and no number (0, NaN) stands in for the missing one.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["figure", "ratio"]
_COMPARE = {">=": operator.ge, "<=": operator.le}


def _plain(value: float) -> str:
    """10000 -> "10,000", 0.4 -> "0.4": how a target's value reads."""
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class Bound:
    """One comparison: the row's figure (or its ratio to the anchor) against a value."""

    side: Side
    op: Literal[">=", "<="]
    value: float
    unit: str = ""

    @property
    def text(self) -> str:
        shown = f"{self.op} {_plain(self.value)}" + (f" {self.unit}" if self.unit else "")
        return shown if self.side == "figure" else f"ratio {shown}"

    def holds(self, figure: float, ratio: float | None) -> bool:
        value = figure if self.side == "figure" else ratio
        return value is not None and _COMPARE[self.op](value, self.value)


@dataclass(frozen=True)
class Target:
    """Every bound must hold; `a & b` joins two targets."""

    bounds: tuple[Bound, ...]

    @property
    def text(self) -> str:
        return " and ".join(bound.text for bound in self.bounds)

    def holds(self, figure: float, ratio: float | None) -> bool:
        return all(bound.holds(figure, ratio) for bound in self.bounds)

    def __and__(self, other: Target) -> Target:
        return Target(self.bounds + other.bounds)


def at_least(value: float, unit: str = "") -> Target:
    return Target((Bound("figure", ">=", value, unit),))


def at_most(value: float, unit: str = "") -> Target:
    return Target((Bound("figure", "<=", value, unit),))


def ratio_at_least(value: float) -> Target:
    return Target((Bound("ratio", ">=", value),))


def ratio_at_most(value: float) -> Target:
    return Target((Bound("ratio", "<=", value),))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class BenchRow:
    scenario: str  # e.g. "matching 1M subscriptions: time per event"
    figure: float | None  # what we measured; None when it could not be measured
    unit: str  # e.g. "events/s"
    anchor: float | None = None  # the reference measured in the same run (None: no anchor)
    anchor_name: str = ""  # what the anchor is, e.g. "PostgreSQL COPY of the same rows"
    target: Target | None = None  # None: reported, not judged
    note: str = ""
    reason: str = ""  # why there is no figure: what stopped the scenario

    @property
    def ratio(self) -> float | None:
        figure, anchor = _finite(self.figure), _finite(self.anchor)
        return figure / anchor if figure is not None and anchor else None

    @property
    def failure(self) -> str:
        """Why this row has no verdict it could pass; empty when it was measured."""
        if self.reason:
            return self.reason
        return "" if _finite(self.figure) is not None else "no finite figure was measured"

    @property
    def met(self) -> bool | None:
        """True or False against the target; None without one; False when not measured."""
        if self.failure:
            return False
        if self.target is None:
            return None
        assert self.figure is not None
        return self.target.holds(self.figure, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "figure": _finite(self.figure),
            "unit": self.unit,
            "anchor": _finite(self.anchor),
            "anchor_name": self.anchor_name,
            "ratio": self.ratio,
            "target": self.target.text if self.target else None,
            "met": self.met,
            "note": self.note,
            "reason": self.failure or None,
        }


def not_run(scenario: str, reason: str, target: Target | None = None, unit: str = "") -> BenchRow:
    """The row of something that could not be measured: no figure, met false, the reason."""
    return BenchRow(scenario, None, unit, target=target, reason=reason)


def error_reason(error: BaseException, limit: int = 400) -> str:
    """An exception as a row's reason: its type and message on one line, not too long."""
    text = " ".join(f"{type(error).__name__}: {error}".split()).removesuffix(":")
    return text if len(text) <= limit else text[: limit - 1] + "…"
