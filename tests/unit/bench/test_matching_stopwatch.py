"""The matching bench's stopwatches: each second counted once, by the part it belongs to."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from worker.bench.matching_run import MatchFigures, _Instruments, _Stopwatch
from worker.matching import fanout

# A sleep counted twice makes at least 2 * SLEEP, so a sleep counted once may overrun
# by up to SLEEP: a loaded machine can wake the sleeper tens of milliseconds late.
SLEEP = 0.1
NOW = datetime(2026, 6, 2, 9, tzinfo=UTC)
_NO_SESSION: Any = object()  # the output's parts are stand-ins: none reaches a database
_NO_SITES: Any = None


def test_evaluation_inside_previous_snapshots_and_nested_calls_count_once() -> None:
    previous = _Stopwatch()
    evaluation = _Stopwatch(outside=previous)
    inner = evaluation.timed(lambda: time.sleep(SLEEP))
    outer = evaluation.timed(lambda: inner())  # an evaluated function calling another
    before = previous.timed(lambda: inner())  # a previous snapshot evaluated

    outer()
    before()

    assert SLEEP <= evaluation.seconds < 2 * SLEEP
    assert SLEEP <= previous.seconds < 2 * SLEEP


def _slow_counts(*_args: object) -> dict[int, int]:
    time.sleep(SLEEP)
    return {}


def test_without_output_the_decision_run_sizes_no_chunks() -> None:
    instruments = _Instruments(output=False)
    with (
        mock.patch.object(fanout, "_subscription_counts", _slow_counts),
        instruments.installed(),
    ):
        assert fanout._fan_out(_NO_SESSION, {}, {7: []}, NOW, _NO_SITES) == 0
    assert instruments.sizing.seconds == instruments.fanout.seconds == 0
    assert instruments.batch_sizes == []


def _slow_rows(*_args: object) -> list[dict[str, Any]]:
    time.sleep(SLEEP)
    return []


def test_with_output_sizing_the_chunks_is_timed_apart_from_the_rows() -> None:
    instruments = _Instruments(output=True)
    with (
        mock.patch.object(fanout, "_subscription_counts", _slow_counts),
        mock.patch.object(fanout, "_notification_rows", _slow_rows),
        mock.patch.object(fanout, "write_notifications", lambda *_args: None),
        instruments.installed(),
    ):
        assert fanout._fan_out(_NO_SESSION, {}, {7: []}, NOW, _NO_SITES) == 0
    assert SLEEP <= instruments.sizing.seconds < 2 * SLEEP
    assert SLEEP <= instruments.fanout.seconds < 2 * SLEEP
    assert 2 * SLEEP <= instruments.output.seconds < 3 * SLEEP  # both, and no more
    assert instruments.batch_sizes == [0]


def test_the_decision_is_what_the_batch_took_but_its_output() -> None:
    figures = MatchFigures(
        events=10, changes=10, notifications=5, criteria=3, candidates=9, index_load=0.1,
        match=5.0, evaluation=1.0, previous=0.5, output=3.0, sizing=0.5, fanout=1.0,
        writes=1.0, commit=0.2, copy=0.4, load_rss_mb=50.0, peak_rss_mb=60.0,
    )  # fmt: skip
    assert figures.decision == 2.0  # the output's 3 s hold its parts and what lies between
