"""The overview counts what the database holds, per UTC day, on both databases."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path

import redis
from sqlalchemy import text

from tests.conftest import make_runtime
from tests.integration.web.admin.activity import (
    BOUNCED,
    BY_STATE,
    COMPLAINED,
    DEAD_LETTERS,
    INGESTED,
    NOW,
    SENT,
    SUPPRESSED,
    WAITING,
    seed_activity,
)
from tests.integration.web.admin.console import Console, logged_in
from worker.core.config import Settings
from worker.core.runtime import Runtime
from worker.sending.pacing_view import read_pacing
from worker.web.admin.figures import last_days, overview_figures

DAYS = last_days(NOW.date())


def _series(counts: dict[date, int]) -> tuple[int, ...]:
    return tuple(counts.get(day, 0) for day in DAYS)


def _check_figures(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        figures = overview_figures(session, NOW)
    assert figures.days == DAYS and DAYS[0] == date(2026, 6, 1)
    assert [s.counts for s in figures.emails] == [
        _series(SENT),
        _series(BOUNCED),
        _series(COMPLAINED),
    ]
    assert figures.events.counts == _series(INGESTED)
    assert figures.dead_letters.counts == _series(DEAD_LETTERS)
    assert figures.waiting == WAITING and figures.suppressions == SUPPRESSED
    assert dict(figures.deliveries_by_state) == BY_STATE


def test_the_figures_are_counted_per_utc_day(runtime: Runtime) -> None:
    seed_activity(runtime)
    _check_figures(runtime)


def test_days_are_utc_days_whatever_the_postgresql_session_time_zone(
    pg_url: str, tmp_path: Path
) -> None:
    runtime = make_runtime(pg_url, tmp_path)
    runtime.engine.dispose()
    with runtime.engine.begin() as connection:
        tables = "deliveries, notifications, study_changes, received_events, dead_letters"
        connection.execute(text(f"TRUNCATE subscribers, suppressions, {tables} CASCADE"))
    east = Runtime(
        Settings(database_url=pg_url),
        engine_options={"connect_args": {"options": "-c timezone=Pacific/Auckland"}},
    )
    try:
        with east.engine.connect() as connection:
            assert connection.execute(text("SHOW timezone")).scalar() == "Pacific/Auckland"
        seed_activity(east)
        _check_figures(east)
    finally:
        east.close()
        runtime.close()


def _table(html: str, table_id: str) -> dict[str, list[int]]:
    body = html.split(f'id="{table_id}"')[1].split("</table>")[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', body)
    return {day: [int(n) for n in re.findall(r">(\d+)</td>", cells)] for day, cells in rows}


def test_the_page_shows_the_same_numbers_in_charts_and_tables(console: Console) -> None:
    seed_activity(console.runtime)
    console.runtime.clock = lambda: NOW
    page = logged_in(console).get("/admin/")
    assert page.status_code == 200
    html = page.text
    emails = _table(html, "table-emails")
    assert len(emails) == 30
    for day in DAYS:
        expected = [SENT.get(day, 0), BOUNCED.get(day, 0), COMPLAINED.get(day, 0)]
        assert emails[day.isoformat()] == expected, day
    events = _table(html, "table-events")
    assert events["2026-06-15"] == [4] and events["2026-06-30"] == [1]
    assert _table(html, "table-deadletters")["2026-06-20"] == [2]
    svg = html.split('id="chart-emails"')[1].split("</svg>")[0]
    values = [int(v) for v in re.findall(r'<desc class="value">(\d+)</desc>', svg)]
    assert sum(values) == sum(SENT.values()) + sum(BOUNCED.values()) + sum(COMPLAINED.values())
    assert "<script" not in html
    assert re.search(r'id="gauge-waiting"><span class="figure">2</span>', html)
    assert re.search(r'id="gauge-suppressions"><span class="figure">1</span>', html)
    assert "Not measured" in html and "embedded mode" in html
    by_state = _table(html, "deliveries-by-state")
    assert {state: counts[0] for state, counts in by_state.items()} == BY_STATE


def test_the_pacing_gauge_reads_the_shared_pacer(
    redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    runtime = make_runtime(sqlite_url, tmp_path, broker_url=redis_url)
    client = redis.Redis.from_url(redis_url)
    prefix = f"test-admin-{time.monotonic_ns()}"
    try:
        assert read_pacing(runtime, prefix).measured and read_pacing(runtime, prefix).rate is None
        client.hset(f"{prefix}:pacer", mapping={"rate": "6.5", "ceiling": "12.6", "quota": "480"})
        hold = {"reason": "quota", "code": "GetAccount", "detail": "spent", "since": 1.0}
        client.set(f"{prefix}:hold", json.dumps({**hold, "recheck_at": 2.0}))
        pacing = read_pacing(runtime, prefix)
        assert (pacing.rate, pacing.ceiling, pacing.quota_left) == (6.5, 12.6, 480)
        assert pacing.hold is not None and pacing.hold.reason == "quota"
    finally:
        client.delete(f"{prefix}:pacer", f"{prefix}:hold")
        client.close()
        runtime.close()
    down = make_runtime(sqlite_url, tmp_path, broker_url="redis://127.0.0.1:9/0")
    try:
        unreachable = read_pacing(down, prefix)
        assert not unreachable.measured and "Redis did not answer" in (unreachable.problem or "")
    finally:
        down.close()
