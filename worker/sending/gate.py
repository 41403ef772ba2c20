"""What the send loop asks around every send: may I go now, and what to do about a stop.

The gate joins the pacer (rate and 24-hour quota), the shared stop switch and
the account check.  A sender that talks to a real provider carries its gate
(`sender.gate`); the file outbox has none and gets an open gate: no pacing,
never held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from worker.core.delivery_states import State
from worker.sending.control import (
    AccountStatus,
    ControlStore,
    Hold,
    HoldReason,
    MemoryControl,
    RedisControl,
    hold_after_check,
    new_hold,
)
from worker.sending.pacer import LocalPacer, Pacer, RedisPacer, Unlimited, WhileWaiting

log = logging.getLogger("worker.sending.ses")
ACCOUNT_TURN = "account"


class SendGate:
    def __init__(
        self,
        pacer: Pacer,
        control: ControlStore,
        *,
        read_account: Callable[[], AccountStatus | None] | None = None,
        rate_fraction: float = 0.9,
        fallback_rate: float = 14.0,
        check_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pacer = pacer
        self.control = control
        self._read_account = read_account
        self.rate_fraction = rate_fraction
        self.fallback_rate = fallback_rate
        self.check_seconds = check_seconds
        self._clock = clock
        self._first_check = threading.Lock()
        self._checked = False
        self.account: AccountStatus | None = None

    def check_account(self) -> Hold | None:
        """Read the account at start and every few minutes (one worker at a time).

        Sets the pace from MaxSendRate (or the configured rate when GetAccount is
        unavailable), the 24-hour room, and sets or lifts the hold.  Returns the
        hold in force afterwards.
        """
        if self._read_account is None:
            return self.control.hold()
        if not self._checked:
            with self._first_check:
                if not self._checked:
                    self.control.take_turn(ACCOUNT_TURN, self.check_seconds)
                    self._check_now()
                    self._checked = True
                    return self.control.hold()
        if self.control.take_turn(ACCOUNT_TURN, self.check_seconds):
            self._check_now()
        return self.control.hold()

    def _check_now(self) -> None:
        assert self._read_account is not None
        account = self._read_account()
        self.account = account
        max_rate = account.max_send_rate if account is not None else self.fallback_rate
        self.pacer.set_limits(
            max(0.01, max_rate * self.rate_fraction),
            account.quota_left if account is not None else None,
        )
        current = self.control.hold()
        after = hold_after_check(current, account, self._clock(), self.check_seconds)
        if after is None and current is not None:
            lifted = self.control.clear_hold()
            if lifted is not None:
                log.warning(
                    "SES sending resumed on all workers after %.0f s held: %s (%s)",
                    self._clock() - lifted.since,
                    lifted.describe(),
                    "account healthy" if account is not None else "GetAccount unavailable: probing",
                )
        elif after is not None and after != current:
            self._set(after)
        elif after is not None:
            log.error("SES sending still held: %s", after.describe())

    def hold(self) -> Hold | None:
        return self.control.hold()

    def wait_for_slot(self, while_waiting: WhileWaiting = None) -> float:
        """Block until one send may go; raises SendingStopped or QuotaSpent."""
        return self.pacer.acquire(while_waiting)

    def slow_down(self) -> None:
        self.pacer.slow_down()

    def stop(self, reason: HoldReason, code: str, detail: str) -> Hold:
        """Hold all sending on all workers; the next account check decides when to resume."""
        hold = new_hold(reason, code, detail, self._clock(), self.check_seconds)
        self._set(hold)
        # The next account check comes exactly when the hold may be lifted.
        self.control.take_turn(ACCOUNT_TURN, self.check_seconds, force=True)
        return hold

    def _set(self, hold: Hold) -> None:
        if self.control.set_hold(hold):
            level = logging.CRITICAL if hold.reason == "pause" else logging.ERROR
            log.log(
                level,
                "SES sending HELD on all workers: %s; deliveries wait (%s), rechecked every %g s",
                hold.describe(),
                State.QUEUED if hold.reason == "pause" else State.PAUSED,
                self.check_seconds,
            )


def open_gate() -> SendGate:
    """No pacing, never held: the file outbox."""
    return SendGate(Unlimited(), MemoryControl())


def gate_of(sender: Any) -> SendGate:
    gate = getattr(sender, "gate", None)
    return gate if isinstance(gate, SendGate) else open_gate()


def shared_gate(
    redis_url: str | None,
    *,
    read_account: Callable[[], AccountStatus | None],
    rate_fraction: float,
    fallback_rate: float,
    check_seconds: float,
    prefix: str = "trialalerts:ses",
) -> SendGate:
    """Pacing and holds shared in Redis (settings.redis_url); in-process ones without."""
    ceiling = fallback_rate * rate_fraction
    control: ControlStore
    pacer: Pacer
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        control = RedisControl(client, prefix)
        pacer = RedisPacer(client, ceiling, prefix=prefix)
    else:
        memory = MemoryControl()
        control = memory
        pacer = LocalPacer(ceiling, stopped=lambda: memory.hold() is not None)
    return SendGate(
        pacer,
        control,
        read_account=read_account,
        rate_fraction=rate_fraction,
        fallback_rate=fallback_rate,
        check_seconds=check_seconds,
    )
