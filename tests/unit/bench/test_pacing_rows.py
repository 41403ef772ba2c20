"""The pacing row counts what arrived at the endpoint each second, against MaxSendRate measured."""

from __future__ import annotations

from typing import Any

from worker.bench.arrivals import per_second_counts, rate_per_second, span_rate
from worker.bench.pacing import pacing_result_rows

NAME = "pacing, MaxSendRate 200/s"


def _steady(rate: float, seconds: float, start: float = 1000.0) -> list[float]:
    return [start + n / rate for n in range(int(rate * seconds))]


def _record(times: list[float], throttled: int = 0, requests: list[float] | None = None) -> Any:
    arrivals = [[at, ["r@example.org"], {"delivery": str(n)}, f"m{n}", 20_000]
                for n, at in enumerate(times)]  # fmt: skip
    return {"arrivals": arrivals, "requests": requests or times, "throttled": throttled}


def test_arrivals_are_counted_per_whole_second_from_the_first_one() -> None:
    times = [10.0, 10.5, 10.99, 11.0, 11.2, 12.0, 12.4]
    assert per_second_counts(times) == [3, 2]  # 12.0 and 12.4: the last, partial second
    assert rate_per_second(times) == 2.5
    assert per_second_counts([]) == [] and rate_per_second([5.0, 5.5]) is None
    assert span_rate([1.0, 2.0, 3.0]) == 1.0 and span_rate([1.0]) is None


def test_the_figure_is_what_arrived_not_what_was_configured() -> None:
    paced = _record(_steady(150.0, 6.0))  # the pacer meant 190/s; 150/s arrived
    unpaced = _record(_steady(200.0, 4.0), throttled=2000)

    row, throttled = pacing_result_rows(NAME, paced, unpaced, 0, 200.0)

    assert round(row.figure or 0) == 150 and round(row.anchor or 0) == 200
    assert round(row.ratio or 0, 2) == 0.75 and row.met is False
    assert row.target is not None and row.target.text == "ratio >= 0.95"
    assert "arrivals per whole second 150-150 over 5 s" in row.note
    assert (throttled.figure, throttled.met) == (0, True)


def test_pacing_at_the_share_of_the_measured_limit_is_met() -> None:
    row, _ = pacing_result_rows(NAME, _record(_steady(191.0, 8.0)),
                                _record(_steady(200.0, 4.0), throttled=900), 0, 200.0)  # fmt: skip
    assert row.met is True


def test_any_429_during_the_paced_run_misses_the_target() -> None:
    paced = _record(_steady(190.0, 6.0), throttled=1)
    _, throttled = pacing_result_rows(NAME, paced, _record(_steady(200.0, 4.0), 500), 1, 200.0)
    assert (throttled.figure, throttled.met) == (1, False)


def test_unpaced_senders_that_never_hit_the_limit_give_no_anchor() -> None:
    row, _ = pacing_result_rows(NAME, _record(_steady(190.0, 6.0)),
                                _record(_steady(120.0, 4.0), throttled=0), 0, 200.0)  # fmt: skip
    assert row.met is False and "never reached the endpoint's limit" in row.reason


def test_a_run_shorter_than_a_second_has_no_rate() -> None:
    row, _ = pacing_result_rows(NAME, _record(_steady(190.0, 0.5)),
                                _record(_steady(200.0, 4.0), throttled=9), 0, 200.0)  # fmt: skip
    assert row.figure is None and row.met is False and "less than one whole second" in row.reason
