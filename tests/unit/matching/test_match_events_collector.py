"""match_events runs with the cycle collector paused, and leaves it as it found it."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any

import pytest

from worker.matching import fanout
from worker.matching.criteria_index import CriteriaIndex


def test_matching_a_batch_pauses_the_collector_and_turns_it_back_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    def unmatched(*_args: Any) -> dict[int, list[Any]]:
        seen.append(gc.isenabled())
        return {}

    monkeypatch.setattr(fanout, "_unmatched_changes", unmatched)
    assert gc.isenabled()
    fanout.match_events(None, [1], datetime(2026, 1, 1, tzinfo=UTC), CriteriaIndex())  # type: ignore[arg-type]
    assert seen == [False]
    assert gc.isenabled()
