"""What an admin can see of the send pacer and the stop switch, read without touching them.

With a shared Redis (TRIALALERTS_REDIS_URL, or the broker's own) both live
there (see pacer.py and control.py): the pacer's hash holds the current
rate, its ceiling and the 24-hour room left, and the hold key says whether
sending is held and why.  Embedded, they live in the memory of whichever
process sends, so nothing can be read from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.core.runtime import Runtime
from worker.sending.control import Hold, RedisControl

PREFIX = "trialalerts:ses"
READ_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class PacingView:
    """`measured` False: there is nothing shared to read (embedded) or Redis did not answer."""

    measured: bool
    rate: float | None = None  # sends a second now (None: no send paced yet)
    ceiling: float | None = None
    quota_left: int | None = None
    hold: Hold | None = None
    problem: str | None = None


def _redis(runtime: Runtime, url: str) -> Any:
    import redis

    return runtime.part(
        "pacing_view_redis",
        lambda: redis.Redis.from_url(
            url, socket_timeout=READ_TIMEOUT_SECONDS, socket_connect_timeout=READ_TIMEOUT_SECONDS
        ),
    )


def _number(raw: Any, kind: type) -> Any:
    try:
        return None if raw is None else kind(float(raw))
    except ValueError:
        return None


def read_pacing(runtime: Runtime, prefix: str = PREFIX) -> PacingView:
    url = runtime.settings.redis_url
    if not url:
        return PacingView(measured=False, problem="embedded mode: no shared pacer to read")
    import redis

    client = _redis(runtime, url)
    try:
        rate, ceiling, quota = client.hmget(f"{prefix}:pacer", "rate", "ceiling", "quota")
        hold = RedisControl(client, prefix).hold()
    except redis.RedisError as error:
        return PacingView(measured=False, problem=f"Redis did not answer: {error}")
    return PacingView(
        measured=True,
        rate=_number(rate, float),
        ceiling=_number(ceiling, float),
        quota_left=_number(quota, int),
        hold=hold,
    )
