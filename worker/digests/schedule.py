"""When a digest is due, and the window key that makes it happen once.

Every digest row is keyed by (subscriber, frequency, window). The window is a
UTC datetime derived only from the inputs, never from the moment a scheduler
happens to run, so two schedulers (or one firing twice) compute the same key
and the unique constraint lets exactly one digest through.

Timing:
- ``instant``: the window is the oldest pending notification's time; the digest
  is due once ``instant_delay`` has passed since then (a short batching window),
  or at once when flushing (``run --until-idle``).
- ``daily``: the window is the most recent local send time (``send_hour`` in the
  subscriber's IANA zone) at or before ``now``.
- ``weekly``: the same, on Mondays only.
- ``monthly``: the same, on the first Monday of each month only (local
  calendar: the Monday on which a subscriber in Tokyo gets it can still be a
  Sunday in UTC).

DST: slots are wall-clock times. A send hour skipped by a spring-forward jump
goes out at the first valid local time after it (02:00 in New York on
2026-03-08 goes out at 03:00 EDT); a send hour repeated by a fall-back goes out
once, at its first occurrence.

Naive datetimes (SQLite drops tzinfo) are read as UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.core.cadence import FREQUENCIES

SLOTTED_FREQUENCIES = ("daily", "weekly", "monthly")

_TICK = timedelta(microseconds=1)


def as_utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive value is taken to be UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def subscriber_zone(tz: str | None) -> ZoneInfo:
    """The subscriber's zone; empty or unknown names fall back to UTC.

    Import and sign-up validate zone names; a name that later disappears from
    the tz database must not stop that subscriber's digests, so it reads as UTC.
    """
    if not tz:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_send_time(day: date, send_hour: int, zone: ZoneInfo) -> datetime:
    """UTC instant of ``send_hour``:00 local on ``day``, resolving DST gaps and folds."""
    wall = datetime.combine(day, time(send_hour), tzinfo=zone)  # fold=0: first occurrence
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant that skips over ``wall``: the first valid local time after it."""
    wall_naive = wall.replace(tzinfo=None)
    low = wall.replace(fold=1).astimezone(UTC)  # before the jump: local time < wall
    high = wall.replace(fold=0).astimezone(UTC)  # after the jump: local time > wall
    if low > high:
        low, high = high, low
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) < wall_naive:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def first_monday(year: int, month: int) -> date:
    """The first Monday of a month: the day monthly digests go out."""
    first = date(year, month, 1)
    return first + timedelta(days=-first.weekday() % 7)


def _candidate_days(frequency: str, today: date) -> list[date]:
    """Send days around ``today``: enough that one is before now and one after, across DST."""
    if frequency == "daily":
        return [today + timedelta(days=offset) for offset in (-2, -1, 0, 1, 2)]
    if frequency == "weekly":
        monday = today - timedelta(days=today.weekday())
        return [monday + timedelta(weeks=offset) for offset in (-1, 0, 1)]
    if frequency == "monthly":
        months = (today.year * 12 + today.month - 1 + offset for offset in (-1, 0, 1))
        return [first_monday(number // 12, number % 12 + 1) for number in months]
    raise ValueError(
        f"frequency {frequency!r} has no send slots; expected one of {SLOTTED_FREQUENCIES}"
    )


def _slots_around(frequency: str, now: datetime, tz: str | None, send_hour: int) -> list[datetime]:
    if not 0 <= send_hour <= 23:
        raise ValueError(f"send_hour {send_hour!r} must be between 0 and 23")
    zone = subscriber_zone(tz)
    today = as_utc(now).astimezone(zone).date()
    return [local_send_time(day, send_hour, zone) for day in _candidate_days(frequency, today)]


def latest_slot(frequency: str, now: datetime, tz: str | None, send_hour: int) -> datetime:
    """UTC instant of the most recent scheduled local send time at or before ``now``."""
    moment = as_utc(now)
    return max(slot for slot in _slots_around(frequency, moment, tz, send_hour) if slot <= moment)


def next_slot(frequency: str, now: datetime, tz: str | None, send_hour: int) -> datetime:
    """UTC instant of the first scheduled local send time strictly after ``now``."""
    moment = as_utc(now)
    return min(slot for slot in _slots_around(frequency, moment, tz, send_hour) if slot > moment)


def due_window(
    frequency: str,
    now: datetime,
    tz: str | None,
    send_hour: int,
    last_window: datetime | None,
    oldest_pending: datetime | None,
    instant_delay: timedelta,
    flush: bool = False,
) -> datetime | None:
    """The window key of the digest of ``frequency`` that is due at ``now``, or None.

    ``last_window`` is the window of the last digest of this subscriber and
    frequency; ``oldest_pending`` the creation time of the oldest notification
    not yet in a digest. Nothing pending means nothing due.

    daily/weekly/monthly: the window is ``latest_slot``. It is due when it is newer than
    ``last_window`` and the oldest pending notification existed by the slot.
    So a notification from 07:00 goes out at 08:00 even when no digest was ever
    sent; one from 08:30, after the 08:00 slot (sent or not), waits for the next
    slot instead of going out at once. A digest built late (scheduler down at
    08:00) still takes everything pending when it is built.

    instant: the window is the oldest pending time, due ``instant_delay`` after
    it, or at once with ``flush``. Should that time not be newer than
    ``last_window`` (a notification committed after the last digest was built
    but stamped before it), the window becomes ``last_window`` + 1 µs so it
    cannot collide with the digest already sent. ``flush`` affects instant only.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}; expected one of {FREQUENCIES}")
    if oldest_pending is None:
        return None
    oldest = as_utc(oldest_pending)
    last = as_utc(last_window) if last_window is not None else None
    moment = as_utc(now)

    if frequency == "instant":
        if not flush and moment < oldest + instant_delay:
            return None
        if last is not None and oldest <= last:
            return last + _TICK
        return oldest

    window = latest_slot(frequency, moment, tz, send_hour)
    if oldest > window:
        return None
    if last is not None and window <= last:
        return None
    return window
