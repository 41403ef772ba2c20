"""Digest timing: when instant, daily, weekly and monthly digests are due, and their window keys."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.cadence import FREQUENCIES
from worker.digests.schedule import (
    as_utc,
    due_window,
    first_monday,
    latest_slot,
    next_slot,
    subscriber_zone,
)

DELAY = timedelta(seconds=60)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *rest: int) -> datetime:
    second, microsecond = (*rest, 0, 0)[:2]
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# --- daily slots -----------------------------------------------------------------------


def test_daily_slot_is_the_local_send_hour_in_utc() -> None:
    assert latest_slot("daily", utc(2026, 6, 27, 12), "Europe/Rome", 8) == utc(2026, 6, 27, 6)
    assert next_slot("daily", utc(2026, 6, 27, 12), "Europe/Rome", 8) == utc(2026, 6, 28, 6)


def test_before_the_send_hour_the_latest_slot_is_yesterdays() -> None:
    assert latest_slot("daily", utc(2026, 6, 27, 5), "Europe/Rome", 8) == utc(2026, 6, 26, 6)
    assert next_slot("daily", utc(2026, 6, 27, 5), "Europe/Rome", 8) == utc(2026, 6, 27, 6)


def test_a_slot_exactly_at_now_is_the_latest_not_the_next() -> None:
    now = utc(2026, 6, 27, 6)
    assert latest_slot("daily", now, "Europe/Rome", 8) == now
    assert next_slot("daily", now, "Europe/Rome", 8) == utc(2026, 6, 28, 6)


def test_rome_spring_forward_keeps_eight_oclock_local() -> None:
    # 2026-03-29: CET (UTC+1) becomes CEST (UTC+2).
    assert latest_slot("daily", utc(2026, 3, 28, 12), "Europe/Rome", 8) == utc(2026, 3, 28, 7)
    assert latest_slot("daily", utc(2026, 3, 29, 12), "Europe/Rome", 8) == utc(2026, 3, 29, 6)
    assert next_slot("daily", utc(2026, 3, 28, 12), "Europe/Rome", 8) == utc(2026, 3, 29, 6)


def test_rome_fall_back_keeps_eight_oclock_local() -> None:
    # 2026-10-25: CEST (UTC+2) becomes CET (UTC+1).
    assert latest_slot("daily", utc(2026, 10, 24, 12), "Europe/Rome", 8) == utc(2026, 10, 24, 6)
    assert latest_slot("daily", utc(2026, 10, 25, 12), "Europe/Rome", 8) == utc(2026, 10, 25, 7)
    assert next_slot("daily", utc(2026, 10, 24, 12), "Europe/Rome", 8) == utc(2026, 10, 25, 7)


def test_new_york_daily_across_both_transitions() -> None:
    assert latest_slot("daily", utc(2026, 3, 7, 20), "America/New_York", 8) == utc(2026, 3, 7, 13)
    assert latest_slot("daily", utc(2026, 3, 8, 20), "America/New_York", 8) == utc(2026, 3, 8, 12)
    assert latest_slot("daily", utc(2026, 10, 31, 20), "America/New_York", 8) == utc(
        2026, 10, 31, 12
    )
    assert latest_slot("daily", utc(2026, 11, 1, 20), "America/New_York", 8) == utc(2026, 11, 1, 13)


def test_a_send_hour_skipped_by_spring_forward_goes_out_at_the_first_valid_time() -> None:
    # New York 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:00 does not exist.
    slot = latest_slot("daily", utc(2026, 3, 8, 12), "America/New_York", 2)
    assert slot == utc(2026, 3, 8, 7)
    assert slot.astimezone(ZoneInfo("America/New_York")).time() == time(3)
    # Rome 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    rome = latest_slot("daily", utc(2026, 3, 29, 12), "Europe/Rome", 2)
    assert rome.astimezone(ZoneInfo("Europe/Rome")).time() == time(3)


def test_a_send_hour_repeated_by_fall_back_goes_out_once_at_its_first_occurrence() -> None:
    # New York 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
    first = utc(2026, 11, 1, 5)  # 01:00 EDT
    assert latest_slot("daily", utc(2026, 11, 1, 5, 30), "America/New_York", 1) == first
    assert (
        latest_slot("daily", utc(2026, 11, 1, 6, 30), "America/New_York", 1) == first
    )  # 01:30 EST
    assert next_slot("daily", first, "America/New_York", 1) == utc(2026, 11, 2, 6)
    second_pass = due_window(
        "daily", utc(2026, 11, 1, 6, 1), "America/New_York", 1, first, utc(2026, 11, 1, 4), DELAY
    )
    assert second_pass is None
    # Rome 2026-10-25: 02:00-03:00 happens twice.
    assert next_slot("daily", utc(2026, 10, 25, 0), "Europe/Rome", 2) == utc(2026, 10, 26, 1)


# --- weekly slots ----------------------------------------------------------------------


def test_weekly_goes_out_on_monday_at_the_send_hour() -> None:
    monday_8 = local("Europe/Rome", 2026, 6, 29, 8)
    assert latest_slot("weekly", utc(2026, 7, 1, 12), "Europe/Rome", 8) == monday_8
    assert next_slot("weekly", utc(2026, 7, 1, 12), "Europe/Rome", 8) == local(
        "Europe/Rome", 2026, 7, 6, 8
    )


def test_weekly_on_a_sunday_gives_the_previous_monday() -> None:
    sunday = local("Europe/Rome", 2026, 7, 5, 23, 59)
    assert latest_slot("weekly", sunday, "Europe/Rome", 8) == local("Europe/Rome", 2026, 6, 29, 8)


def test_weekly_on_monday_before_the_send_hour_gives_the_week_before() -> None:
    early = local("America/New_York", 2026, 6, 29, 7, 59)
    assert latest_slot("weekly", early, "America/New_York", 8) == local(
        "America/New_York", 2026, 6, 22, 8
    )
    assert next_slot("weekly", early, "America/New_York", 8) == local(
        "America/New_York", 2026, 6, 29, 8
    )


def test_weekly_across_dst_stays_on_local_monday_morning() -> None:
    # Rome spring-forward was Sunday 2026-03-29: Monday 23rd at 07:00 UTC, 30th at 06:00 UTC.
    assert next_slot("weekly", utc(2026, 3, 24), "Europe/Rome", 8) == utc(2026, 3, 30, 6)
    assert latest_slot("weekly", utc(2026, 3, 29, 12), "Europe/Rome", 8) == utc(2026, 3, 23, 7)
    # New York fall-back was Sunday 2026-11-01.
    assert next_slot("weekly", utc(2026, 10, 30), "America/New_York", 8) == utc(2026, 11, 2, 13)


# --- monthly slots ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "day"),
    [(2026, 6, 1), (2026, 7, 6), (2026, 8, 3), (2026, 2, 2), (2027, 1, 4), (2028, 5, 1)],
)
def test_first_monday_of_the_month(year: int, month: int, day: int) -> None:
    assert first_monday(year, month).day == day
    assert first_monday(year, month).weekday() == 0


def test_monthly_goes_out_on_the_first_monday_at_the_send_hour() -> None:
    mid_july = utc(2026, 7, 15, 12)
    assert latest_slot("monthly", mid_july, "Europe/Rome", 8) == local("Europe/Rome", 2026, 7, 6, 8)
    assert next_slot("monthly", mid_july, "Europe/Rome", 8) == local("Europe/Rome", 2026, 8, 3, 8)


def test_monthly_before_the_first_monday_gives_last_months() -> None:
    # 2026-07-01 is a Wednesday; the month's first Monday is the 6th.
    assert latest_slot("monthly", utc(2026, 7, 2), "UTC", 8) == utc(2026, 6, 1, 8)
    first_monday_early = local("America/New_York", 2026, 7, 6, 7, 59)
    assert latest_slot("monthly", first_monday_early, "America/New_York", 8) == local(
        "America/New_York", 2026, 6, 1, 8
    )
    assert next_slot("monthly", first_monday_early, "America/New_York", 8) == local(
        "America/New_York", 2026, 7, 6, 8
    )


def test_monthly_across_the_year_end() -> None:
    # First Mondays: 2026-12-07, 2027-01-04.
    new_years_eve = utc(2026, 12, 31, 23)
    assert latest_slot("monthly", new_years_eve, "UTC", 8) == utc(2026, 12, 7, 8)
    assert next_slot("monthly", new_years_eve, "UTC", 8) == utc(2027, 1, 4, 8)
    assert latest_slot("monthly", utc(2027, 1, 3), "UTC", 8) == utc(2026, 12, 7, 8)


def test_monthly_follows_the_local_calendar_not_utcs() -> None:
    # Monday 2026-06-01 08:00 in Tokyo is Sunday 2026-05-31 23:00 UTC.
    slot = latest_slot("monthly", utc(2026, 6, 1), "Asia/Tokyo", 8)
    assert slot == utc(2026, 5, 31, 23)
    # Monday 2026-06-01 at 20:00 in Honolulu is Tuesday 06:00 UTC.
    assert next_slot("monthly", utc(2026, 6, 1, 12), "Pacific/Honolulu", 20) == utc(2026, 6, 2, 6)


def test_monthly_across_dst_stays_on_local_monday_morning() -> None:
    # Rome: CET in March, CEST from 2026-03-29: the two first Mondays differ in UTC.
    assert latest_slot("monthly", utc(2026, 3, 31), "Europe/Rome", 8) == utc(2026, 3, 2, 7)
    assert next_slot("monthly", utc(2026, 3, 31), "Europe/Rome", 8) == utc(2026, 4, 6, 6)
    # New York: EDT on Monday 2026-11-02 has become EST (fall-back on Sunday the 1st).
    assert next_slot("monthly", utc(2026, 10, 20), "America/New_York", 8) == utc(2026, 11, 2, 13)


def test_a_monthly_window_is_due_once_and_takes_what_was_pending_by_then() -> None:
    slot = utc(2026, 8, 3, 8)
    pending = utc(2026, 7, 20)
    # Pending since after July's slot: it waits for August's.
    assert due_window("monthly", utc(2026, 8, 2), "UTC", 8, None, pending, DELAY) is None
    assert due_window("monthly", utc(2026, 8, 3, 8, 1), "UTC", 8, None, pending, DELAY) == slot
    assert due_window("monthly", utc(2026, 8, 20), "UTC", 8, slot, utc(2026, 8, 4), DELAY) is None
    assert due_window("monthly", utc(2026, 9, 7, 8), "UTC", 8, slot, utc(2026, 8, 4), DELAY) == utc(
        2026, 9, 7, 8
    )


# --- zones -----------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "", None, "Mars/Olympus_Mons", "../etc/passwd"])
def test_utc_is_the_default_and_the_fallback_for_unknown_zones(tz: str | None) -> None:
    assert latest_slot("daily", utc(2026, 6, 27, 12), tz, 8) == utc(2026, 6, 27, 8)
    assert subscriber_zone(tz) == ZoneInfo("UTC")


def test_naive_datetimes_are_read_as_utc() -> None:
    assert as_utc(datetime(2026, 6, 27, 8)) == utc(2026, 6, 27, 8)
    naive = due_window(
        "daily",
        datetime(2026, 6, 27, 9),
        "UTC",
        8,
        datetime(2026, 6, 26, 8),
        datetime(2026, 6, 27),
        DELAY,
    )
    assert naive == utc(2026, 6, 27, 8)


@pytest.mark.parametrize("hour", [-1, 24])
def test_a_send_hour_outside_the_day_is_an_error(hour: int) -> None:
    with pytest.raises(ValueError, match="send_hour"):
        latest_slot("daily", utc(2026, 6, 27), "UTC", hour)


def test_unknown_frequencies_are_errors() -> None:
    with pytest.raises(ValueError, match="frequency"):
        due_window("hourly", utc(2026, 6, 27), "UTC", 8, None, utc(2026, 6, 26), DELAY)
    with pytest.raises(ValueError, match="no send slots"):
        latest_slot("instant", utc(2026, 6, 27), "UTC", 8)


# --- due windows: daily/weekly ---------------------------------------------------------


@pytest.mark.parametrize("frequency", FREQUENCIES)
def test_nothing_pending_means_nothing_due(frequency: str) -> None:
    now = utc(2026, 6, 29, 12)
    assert due_window(frequency, now, "UTC", 8, None, None, DELAY) is None
    assert due_window(frequency, now, "UTC", 8, None, None, DELAY, flush=True) is None


def test_a_notification_before_the_slot_goes_out_at_the_slot_when_none_was_ever_sent() -> None:
    pending = local("Europe/Rome", 2026, 6, 27, 7)
    before_slot = local("Europe/Rome", 2026, 6, 27, 7, 30)
    at_slot = local("Europe/Rome", 2026, 6, 27, 8) + timedelta(seconds=30)
    assert due_window("daily", before_slot, "Europe/Rome", 8, None, pending, DELAY) is None
    assert due_window("daily", at_slot, "Europe/Rome", 8, None, pending, DELAY) == local(
        "Europe/Rome", 2026, 6, 27, 8
    )


def test_a_notification_after_the_slot_waits_for_the_next_slot() -> None:
    sent = local("Europe/Rome", 2026, 6, 27, 8)
    pending = local("Europe/Rome", 2026, 6, 27, 8, 30)
    later_today = local("Europe/Rome", 2026, 6, 27, 18)
    tomorrow = local("Europe/Rome", 2026, 6, 28, 8, 1)
    assert due_window("daily", later_today, "Europe/Rome", 8, sent, pending, DELAY) is None
    assert due_window("daily", tomorrow, "Europe/Rome", 8, sent, pending, DELAY) == local(
        "Europe/Rome", 2026, 6, 28, 8
    )


def test_a_first_notification_after_todays_slot_does_not_go_out_at_once() -> None:
    pending = local("Europe/Rome", 2026, 6, 27, 15)
    assert (
        due_window(
            "daily",
            local("Europe/Rome", 2026, 6, 27, 15, 5),
            "Europe/Rome",
            8,
            None,
            pending,
            DELAY,
        )
        is None
    )


def test_a_missed_slot_still_goes_out_when_the_scheduler_comes_back() -> None:
    pending = utc(2026, 6, 27, 3)
    now = utc(2026, 6, 27, 11)  # the 08:00 tick never ran
    assert due_window("daily", now, "UTC", 8, utc(2026, 6, 26, 8), pending, DELAY) == utc(
        2026, 6, 27, 8
    )


def test_the_same_window_is_not_due_twice() -> None:
    window = utc(2026, 6, 27, 8)
    pending = utc(2026, 6, 27, 7, 59, 59)  # committed after the digest was built
    assert due_window("daily", utc(2026, 6, 27, 8, 5), "UTC", 8, window, pending, DELAY) is None
    monday = utc(2026, 6, 29, 8)
    assert due_window("weekly", utc(2026, 6, 29, 9), "UTC", 8, monday, pending, DELAY) is None


def test_two_schedulers_ticking_moments_apart_agree_on_the_window() -> None:
    pending = utc(2026, 6, 26, 20)
    ticks = [utc(2026, 6, 29, 6, 0, 0, 1), utc(2026, 6, 29, 6, 0, 3), utc(2026, 6, 29, 6, 4, 59)]
    for frequency in ("daily", "weekly"):
        windows = {
            due_window(frequency, tick, "Europe/Rome", 8, None, pending, DELAY) for tick in ticks
        }
        assert windows == {utc(2026, 6, 29, 6)}
    instant = {due_window("instant", tick, "UTC", 8, None, pending, DELAY) for tick in ticks}
    assert instant == {pending}


def test_flush_only_hurries_instant_digests() -> None:
    pending = utc(2026, 6, 27, 9)
    now = utc(2026, 6, 27, 9, 0, 1)
    assert due_window("daily", now, "UTC", 8, None, pending, DELAY, flush=True) is None


# --- due windows: instant --------------------------------------------------------------


def test_instant_waits_for_the_batching_window_from_the_oldest_notification() -> None:
    oldest = utc(2026, 6, 27, 9, 0, 0)
    assert (
        due_window("instant", oldest + timedelta(seconds=59), "UTC", 8, None, oldest, DELAY) is None
    )
    assert due_window("instant", oldest + DELAY, "UTC", 8, None, oldest, DELAY) == oldest
    short = timedelta(seconds=5)
    assert due_window("instant", oldest + short, "UTC", 8, None, oldest, short) == oldest


def test_flush_sends_instant_notifications_at_once() -> None:
    oldest = utc(2026, 6, 27, 9)
    assert due_window("instant", oldest, "UTC", 8, None, oldest, DELAY, flush=True) == oldest


def test_instant_never_reuses_or_goes_behind_the_last_window() -> None:
    last = utc(2026, 6, 27, 9)
    late = utc(2026, 6, 27, 8, 59)  # stamped before the last digest, committed after it
    now = utc(2026, 6, 27, 10)
    window = due_window("instant", now, "UTC", 8, last, late, DELAY)
    assert window == last + timedelta(microseconds=1)
    assert due_window("instant", now, "UTC", 8, last, last, DELAY) == window
    newer = utc(2026, 6, 27, 9, 30)
    assert due_window("instant", now, "UTC", 8, last, newer, DELAY) == newer


# --- properties ------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Rome",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # transitions at local midnight
    "Asia/Kolkata",  # half-hour offset, no DST
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Asia/Tehran",
    "America/St_Johns",
]


def _wall_exists(day: datetime, hour: int, zone: ZoneInfo) -> bool:
    wall = datetime.combine(day.date(), time(hour), tzinfo=zone)
    return wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None)


@settings(max_examples=400, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31)),
    tz=st.sampled_from(ZONES),
    hour=st.integers(min_value=0, max_value=23),
    frequency=st.sampled_from(["daily", "weekly", "monthly"]),
)
def test_slots_bracket_now_at_the_local_send_hour(
    now: datetime, tz: str, hour: int, frequency: str
) -> None:
    moment = now.replace(tzinfo=UTC)
    zone = ZoneInfo(tz)
    latest = latest_slot(frequency, moment, tz, hour)
    upcoming = next_slot(frequency, moment, tz, hour)
    assert latest <= moment < upcoming
    assert next_slot(frequency, latest, tz, hour) == upcoming  # no slot in between
    assert latest_slot(frequency, upcoming, tz, hour) == upcoming
    longest = {"daily": 1, "weekly": 7, "monthly": 35}[frequency]
    assert upcoming - latest <= timedelta(days=longest, hours=2)
    for slot in (latest, upcoming):
        wall = slot.astimezone(zone)
        if wall.hour == hour and wall.minute == 0 and wall.second == 0:
            if frequency in ("weekly", "monthly"):
                assert wall.weekday() == 0
            if frequency == "monthly":
                assert wall.day <= 7
        else:  # the send hour did not exist that day: the slot is the end of the DST gap
            previous_day = wall - timedelta(days=1)
            assert not _wall_exists(wall, hour, zone) or not _wall_exists(previous_day, hour, zone)
            just_before = (slot - timedelta(seconds=1)).astimezone(zone)
            assert just_before.utcoffset() != wall.utcoffset()
