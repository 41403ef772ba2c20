"""The digests row: figure and anchor in turns, from the turn of the median ratio."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from worker.bench import digests
from worker.bench.turns import median_turn


def test_figure_and_anchor_come_from_the_turn_of_the_median_ratio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send_seconds = iter([2.0, 1.0, 1.5, 1.2, 1.1])
    bare_seconds = iter([0.5, 0.6, 0.4, 0.45, 0.5])
    order: list[str] = []

    def send_ready(samples: list[Any]) -> tuple[float, int]:
        order.append("figure")
        return (next(send_seconds) if len(samples) > 5 else 0.0), 1024 * len(samples)

    def bare_rendering(samples: list[Any]) -> float:
        order.append("anchor")
        return next(bare_seconds)

    monkeypatch.setattr(digests, "_send_ready", send_ready)
    monkeypatch.setattr(digests, "_bare_rendering", bare_rendering)
    sample = SimpleNamespace(notifications=())
    monkeypatch.setattr(digests, "sample_digests", lambda count: [sample] * count)

    [row] = digests.digest_rows("quick")

    assert order == ["figure"] + ["figure", "anchor"] * 5  # a warm-up, then five turns
    # Turn ratios 0.25, 0.60, 0.27, 0.375, 0.45: the median is the fourth turn's.
    assert (row.figure, row.anchor) == (2000 / 1.2, 2000 / 0.45)
    assert row.ratio == pytest.approx(0.375)
    assert row.anchor_name.endswith("same turn: the one of 5 taken in turns with the median ratio")
    assert row.note is not None and row.note.endswith("turn by turn the ratio read 0.25 to 0.60")


def test_the_median_turn_is_the_middle_ratio_and_the_higher_middle_of_an_even_count() -> None:
    assert median_turn([0.3, 0.1, 0.2]) == 2
    assert median_turn([0.4, 0.1, 0.3, 0.2]) == 2
    assert median_turn([0.5]) == 0
