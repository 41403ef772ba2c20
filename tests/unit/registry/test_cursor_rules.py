"""Pure rules of the poll: where the cursor goes, when followed studies are due, what is missing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from worker.registry.client import Throttle, backoff, retry_after_seconds
from worker.registry.cursor import advance
from worker.registry.follow import batches, missing, refresh_due

TODAY = date(2026, 6, 28)


def test_the_cursor_moves_to_the_pages_latest_day_and_never_back_or_past_today() -> None:
    start = date(2026, 6, 20)
    assert advance(start, [date(2026, 6, 21), date(2026, 6, 23)], TODAY) == date(2026, 6, 23)
    assert advance(start, [], TODAY) == start  # an empty page, or no dated study
    assert advance(start, [date(2026, 6, 1)], TODAY) == start
    assert advance(start, [date(9999, 12, 31)], TODAY) == TODAY


def test_followed_studies_are_due_after_the_refresh_interval() -> None:
    now = datetime(2026, 6, 28, 12, tzinfo=UTC)
    assert refresh_due(None, now, 24)
    assert not refresh_due(now - timedelta(hours=23), now, 24)
    assert refresh_due(now - timedelta(hours=24), now, 24)


def test_followed_ids_go_in_short_batches_and_absent_ones_are_named() -> None:
    ids = [f"NCT{n:08d}" for n in range(250)]
    assert [len(batch) for batch in batches(ids)] == [100, 100, 50]
    assert len(",".join(next(batches(ids)))) < 1200
    assert missing(["NCT1", "NCT2", "NCT3"], ["NCT2", None]) == ["NCT1", "NCT3"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.25", 0.25), (None, None), ("soon", None), ("-5", 0.0), ("99999", 900.0),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)  # fmt: skip
def test_retry_after_is_seconds_or_a_date_bounded(header: str | None, seconds: float) -> None:
    assert retry_after_seconds(header) == seconds


def test_the_throttle_spaces_request_starts() -> None:
    slept: list[float] = []
    throttle = Throttle(2.0, slept.append)
    for _ in range(3):
        throttle.wait()
    assert len(slept) == 2 and all(0.4 < wait <= 1.0 for wait in slept)
    unlimited: list[float] = []
    free = Throttle(float("inf"), unlimited.append)
    free.wait()
    free.wait()
    assert unlimited == []


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    waits = [backoff(1.0, attempt) for attempt in range(1, 10)]
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 3.0 and 4.0 <= waits[2] <= 5.0
    assert all(64.0 <= wait <= 65.0 for wait in waits[7:])
