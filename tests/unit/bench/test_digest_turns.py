"""The digests row: figure and anchor run in turns, each its best turn, the spread said."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from worker.bench import digests


def test_figure_and_anchor_are_each_their_best_turn(monkeypatch: pytest.MonkeyPatch) -> None:
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
    assert (row.figure, row.anchor) == (2000 / 1.0, 2000 / 0.4)
    assert row.ratio == pytest.approx(0.4)
    assert row.anchor_name.endswith("best of 5 runs each taken in turns")
    assert row.note is not None and row.note.endswith("turn by turn the ratio read 0.25 to 0.60")
