"""The send pacer: every worker on every machine together stays under one rate.

Each send reserves the next free slot on a shared timeline (a generic cell
rate algorithm: the "theoretical arrival time" moves on by 1/rate per slot)
and sleeps until its slot.  Slots are spaced evenly, so no sliding second
ever holds more than the rate plus one, however many threads and processes
ask at once.  The reservation also spends the 24-hour quota and refuses while
sending is stopped, so one round trip answers "may I send now?".

The rate follows `ceiling` (a fraction of the account's MaxSendRate).  When
SES still says "too fast" (someone else sends on the same account), the rate
halves at once and climbs back to the ceiling over about 10 seconds.

`RedisPacer` shares the timeline through one Redis hash (Redis's own clock, so
machines with skewed clocks still agree); `LocalPacer` is the in-process twin
for the embedded mode, where there is no Redis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

RECOVERY_PER_SECOND = 0.05  # of the ceiling: from half speed back to full in ~10 s
SLOW_DOWN_FACTOR = 0.5
SLOW_DOWN_SPACING = 1.0  # seconds: many 429s at once halve the rate only once
MIN_RATE_FRACTION = 0.05  # never slower than 5 % of the ceiling


class QuotaSpent(Exception):
    """The 24-hour sending quota has no room left."""


class SendingStopped(Exception):
    """Sending is held on all workers (account paused, quota spent)."""


WhileWaiting = Callable[[], None] | None
# A slot at least this far off is worth a short write first (`while_waiting`); a
# nearer one is not: the write would cost more than it shortens the wait.
WORTH_WORKING_FOR = 0.02  # seconds


def _wait(seconds: float, while_waiting: WhileWaiting, sleep: Callable[[float], None]) -> None:
    """Sleep until a slot `seconds` away, running `while_waiting` first if it is far enough."""
    if seconds <= 0:
        return
    if while_waiting is not None and seconds >= WORTH_WORKING_FOR:
        started = time.monotonic()
        while_waiting()
        seconds -= time.monotonic() - started
    if seconds > 0:
        sleep(seconds)


class Pacer(Protocol):
    def acquire(self, while_waiting: WhileWaiting = None) -> float:
        """Block until this caller may send one message; returns the seconds waited.

        `while_waiting` runs first when the slot is WORTH_WORKING_FOR or more
        away (the wait counts from the reservation: its time is not added).
        """
        ...

    def slow_down(self) -> None:
        """SES said too fast: lower the shared rate now."""
        ...

    def set_limits(self, ceiling: float, quota_left: int | None) -> None:
        """New rate ceiling (sends/s) and 24-hour room (None: unknown or unlimited)."""
        ...

    def rate(self) -> float:
        """The current rate (sends/s)."""
        ...


class Unlimited:
    """No pacing at all: the file outbox."""

    def acquire(self, while_waiting: WhileWaiting = None) -> float:
        return 0.0

    def slow_down(self) -> None:
        return None

    def set_limits(self, ceiling: float, quota_left: int | None) -> None:
        return None

    def rate(self) -> float:
        return float("inf")


class LocalPacer:
    """The shared timeline for the threads of one process."""

    def __init__(
        self,
        ceiling: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self._lock = threading.Lock()
        self._clock, self._sleep, self._stopped = clock, sleep, stopped
        self._ceiling = self._rate = ceiling
        self._quota: int | None = None
        self._tat = self._changed = self._slowed = float("-inf")

    def acquire(self, while_waiting: WhileWaiting = None) -> float:
        if self._stopped():
            raise SendingStopped()
        with self._lock:
            now = self._clock()
            self._recover(now)
            if self._quota is not None:
                if self._quota <= 0:
                    raise QuotaSpent()
                self._quota -= 1
            slot = max(self._tat, now)
            self._tat = slot + 1.0 / self._rate
        wait = slot - now
        _wait(wait, while_waiting, self._sleep)
        return wait

    def _recover(self, now: float) -> None:
        if self._rate < self._ceiling and self._changed > float("-inf"):
            self._rate = min(
                self._ceiling,
                self._rate + (now - self._changed) * self._ceiling * RECOVERY_PER_SECOND,
            )
        self._rate = min(self._rate, self._ceiling)
        self._changed = now

    def slow_down(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._slowed < SLOW_DOWN_SPACING:
                return
            self._recover(now)
            self._rate = max(self._ceiling * MIN_RATE_FRACTION, self._rate * SLOW_DOWN_FACTOR)
            self._slowed = now

    def set_limits(self, ceiling: float, quota_left: int | None) -> None:
        with self._lock:
            self._ceiling = ceiling
            self._rate = min(self._rate, ceiling)
            self._quota = quota_left

    def rate(self) -> float:
        return self._rate


# KEYS[1] pacer hash, KEYS[2] hold key.  ARGV[1] ceiling to assume when none is stored.
# Returns the seconds to wait, or "stopped" / "quota".
_ACQUIRE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'stopped' end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'ceiling', 'changed', 'quota')
local ceiling = tonumber(s[3]) or tonumber(ARGV[1])
local rate = tonumber(s[2]) or ceiling
local changed = tonumber(s[4]) or now
if rate < ceiling then
  rate = math.min(ceiling, rate + (now - changed) * ceiling * tonumber(ARGV[2]))
end
if rate > ceiling then rate = ceiling end
local quota = tonumber(s[5])
if quota ~= nil then
  if quota <= 0 then return 'quota' end
  redis.call('HINCRBY', KEYS[1], 'quota', -1)
end
local tat = tonumber(s[1]) or now
if tat < now then tat = now end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat + 1 / rate),
  'rate', string.format('%.6f', rate), 'changed', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], 86400)
return string.format('%.6f', tat - now)
"""

# KEYS[1] pacer hash.  ARGV: ceiling to assume, factor, floor fraction, spacing.
_SLOW_DOWN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'rate', 'ceiling', 'slowed')
local ceiling = tonumber(s[2]) or tonumber(ARGV[1])
local rate = tonumber(s[1]) or ceiling
if now - (tonumber(s[3]) or 0) < tonumber(ARGV[4]) then return 0 end
rate = math.max(ceiling * tonumber(ARGV[3]), rate * tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'rate', string.format('%.6f', rate),
  'slowed', string.format('%.6f', now), 'changed', string.format('%.6f', now))
return 1
"""

# KEYS[1] pacer hash.  ARGV[1] ceiling, ARGV[2] quota left or '' (unknown).
_SET_LIMITS = """
redis.call('HSET', KEYS[1], 'ceiling', ARGV[1])
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate'))
if rate ~= nil and rate > tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'rate', ARGV[1]) end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'quota')
else redis.call('HSET', KEYS[1], 'quota', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""


class RedisPacer:
    """The shared timeline for all workers, in the Redis hash `<prefix>:pacer`."""

    def __init__(
        self,
        client: Any,
        ceiling: float,
        *,
        prefix: str = "trialalerts:ses",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._default_ceiling = ceiling
        self._sleep = sleep
        self.key = f"{prefix}:pacer"
        self.hold_key = f"{prefix}:hold"
        self._acquire = client.register_script(_ACQUIRE)
        self._slow_down = client.register_script(_SLOW_DOWN)
        self._set_limits = client.register_script(_SET_LIMITS)

    def acquire(self, while_waiting: WhileWaiting = None) -> float:
        answer = self._acquire(
            keys=[self.key, self.hold_key], args=[self._default_ceiling, RECOVERY_PER_SECOND]
        )
        answer = answer.decode() if isinstance(answer, bytes) else str(answer)
        if answer == "stopped":
            raise SendingStopped()
        if answer == "quota":
            raise QuotaSpent()
        wait = float(answer)
        _wait(wait, while_waiting, self._sleep)
        return wait

    def slow_down(self) -> None:
        self._slow_down(
            keys=[self.key],
            args=[self._default_ceiling, SLOW_DOWN_FACTOR, MIN_RATE_FRACTION, SLOW_DOWN_SPACING],
        )

    def set_limits(self, ceiling: float, quota_left: int | None) -> None:
        self._default_ceiling = ceiling
        self._set_limits(
            keys=[self.key], args=[f"{ceiling:.6f}", "" if quota_left is None else quota_left]
        )

    def rate(self) -> float:
        stored = self._client.hget(self.key, "rate")
        return float(stored) if stored is not None else self._default_ceiling
