"""The shared stop switch: "sending is held" for every worker, and when to lift it.

A hold has a reason: `pause` (SES cannot send at all: paused, suspended, an
identity or configuration set missing, credentials refused) or `quota` (the
24-hour quota is spent).  While a hold is set no worker sends; pause leaves
deliveries `queued`, quota parks digests as `paused`.

Where the switch lives:
- with a broker URL (many workers, many machines): the Redis key
  `trialalerts:ses:hold` on the broker's Redis, which the pacer's reservation
  script also reads, so a hold stops the very next send everywhere;
- embedded (one process, no Redis): in memory.  A new process starts
  without a hold; its first send finds out again, which is the same thing a
  flushed Redis does.  Losing the switch never loses deliveries: they stay in
  the database, and a send into a paused account only sets the hold again.

Resuming: the account is read (`GetAccount`) at start and every few minutes,
by one worker at a time (a Redis `SET NX PX` turn).  A hold is lifted once
its recheck time has come and the account looks healthy, or cannot be read
at all (then the next send is the probe).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

HoldReason = Literal["pause", "quota"]


@dataclass(frozen=True)
class AccountStatus:
    """What `GetAccount` says about sending."""

    max_send_rate: float
    max_24_hour_send: float  # -1: unlimited
    sent_last_24_hours: float
    sending_enabled: bool = True
    enforcement_status: str = "HEALTHY"

    @property
    def can_send(self) -> bool:
        return self.sending_enabled and self.enforcement_status.upper() != "SHUTDOWN"

    @property
    def quota_left(self) -> int | None:
        """Sends left in the rolling 24 hours (None: unlimited)."""
        if self.max_24_hour_send < 0:
            return None
        return max(0, int(self.max_24_hour_send - self.sent_last_24_hours))


@dataclass(frozen=True)
class Hold:
    reason: HoldReason
    code: str  # the SES error code (or "GetAccount") that set it
    detail: str
    since: float  # epoch seconds
    recheck_at: float  # epoch seconds: not lifted before this

    def describe(self) -> str:
        return f"{self.reason} ({self.code}: {self.detail})"


def hold_after_check(
    current: Hold | None, account: AccountStatus | None, now: float, recheck_seconds: float
) -> Hold | None:
    """The hold after reading the account at `now` (pure).

    An account that cannot send, or whose quota is spent, is held whatever
    the current hold says.  Otherwise a hold stays until its recheck time;
    then it is lifted: the account looks healthy, or it could not be read and
    the next send will find out.
    """
    if account is not None and not account.can_send:
        detail = (
            f"SendingEnabled={account.sending_enabled}, "
            f"EnforcementStatus={account.enforcement_status}"
        )
        return _renewed(current, "pause", "GetAccount", detail, now, recheck_seconds)
    if account is not None and account.quota_left == 0:
        sent, most = account.sent_last_24_hours, account.max_24_hour_send
        detail = f"{sent:.0f} of {most:.0f} sent in 24 hours"
        return _renewed(current, "quota", "GetAccount", detail, now, recheck_seconds)
    if current is not None and now < current.recheck_at:
        return current
    return None


def _renewed(
    current: Hold | None, reason: HoldReason, code: str, detail: str, now: float, recheck: float
) -> Hold:
    since = current.since if current is not None and current.reason == reason else now
    return Hold(reason, code, detail, since, now + recheck)


def new_hold(reason: HoldReason, code: str, detail: str, now: float, recheck: float) -> Hold:
    return Hold(reason, code, detail, now, now + recheck)


class ControlStore(Protocol):
    def hold(self) -> Hold | None: ...

    def set_hold(self, hold: Hold) -> bool:
        """Store `hold`; True when sending was not held before (log it loudly once)."""
        ...

    def clear_hold(self) -> Hold | None:
        """Lift the hold; returns the hold that was lifted, if any."""
        ...

    def take_turn(self, name: str, seconds: float, force: bool = False) -> bool:
        """True for one caller per `seconds` across all workers (the account check).

        `force` starts a new period now, whoever had the turn.
        """
        ...


class MemoryControl:
    """The switch for one process (embedded mode)."""

    def __init__(self, clock: Any = time.time) -> None:
        self._lock = threading.Lock()
        self._hold: Hold | None = None
        self._turns: dict[str, float] = {}
        self._clock = clock

    def hold(self) -> Hold | None:
        return self._hold

    def set_hold(self, hold: Hold) -> bool:
        with self._lock:
            was, self._hold = self._hold, hold
        return was is None

    def clear_hold(self) -> Hold | None:
        with self._lock:
            was, self._hold = self._hold, None
        return was

    def take_turn(self, name: str, seconds: float, force: bool = False) -> bool:
        with self._lock:
            now = self._clock()
            if not force and self._turns.get(name, float("-inf")) > now:
                return False
            self._turns[name] = now + seconds
            return True


class RedisControl:
    """The switch for all workers: the Redis key `<prefix>:hold` (JSON)."""

    def __init__(self, client: Any, prefix: str = "trialalerts:ses") -> None:
        self._client = client
        self.hold_key = f"{prefix}:hold"
        self._prefix = prefix

    def hold(self) -> Hold | None:
        raw = self._client.get(self.hold_key)
        return _decode(raw)

    def set_hold(self, hold: Hold) -> bool:
        previous = self._client.set(self.hold_key, json.dumps(asdict(hold)), get=True)
        return previous is None

    def clear_hold(self) -> Hold | None:
        return _decode(self._client.getdel(self.hold_key))

    def take_turn(self, name: str, seconds: float, force: bool = False) -> bool:
        key = f"{self._prefix}:turn:{name}"
        period = max(1, int(seconds * 1000))
        return bool(self._client.set(key, "1", nx=not force, px=period))


def _decode(raw: Any) -> Hold | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Hold(**data)
    except (ValueError, TypeError):
        # A hold we cannot read is still a hold: recheck it soon.
        now = time.time()
        return Hold("pause", "unreadable", str(raw)[:200], now, now)
