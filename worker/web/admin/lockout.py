"""When failed logins lock an account: pure rules over the times of its failures.

Five failures within fifteen minutes lock the account for fifteen minutes from
the fifth.  Failures during a lock neither extend it nor count towards the
next one, so an attacker cannot keep an admin out longer than their own tries
allow; and unknown addresses follow the same rules, so the answer to a login
never tells whether an account exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)
# Older failures can no longer lock anything (a window, then a lock).
RELEVANT = FAILURE_WINDOW + LOCK_TIME


def locked_until(failures: Iterable[datetime]) -> datetime | None:
    """The end of the lock the failures (any order) put in place, None when they never did."""
    until: datetime | None = None
    recent: list[datetime] = []
    for at in sorted(failures):
        if until is not None and at < until:
            continue  # tried while locked
        recent = [earlier for earlier in recent if at - earlier < FAILURE_WINDOW] + [at]
        if len(recent) >= MAX_FAILURES:
            until, recent = at + LOCK_TIME, []
    return until


def is_locked(failures: Iterable[datetime], now: datetime) -> bool:
    until = locked_until(failures)
    return until is not None and now < until
