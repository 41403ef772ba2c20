"""SES sending options read from the environment (defaults when unset).

- `TRIALALERTS_SES_RATE_FRACTION` (0.9): the share of the account's MaxSendRate
  that all workers together use, 0 < x <= 1.
- `TRIALALERTS_SES_ACCOUNT_CHECK_SECONDS` (300): how often GetAccount is read
  and a held account rechecked.
- `TRIALALERTS_SES_CONNECT_TIMEOUT` (3): seconds to connect to SES.
- `TRIALALERTS_SES_READ_TIMEOUT` (10): seconds to wait for SES's answer; a
  timeout here may mean SES accepted the message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from worker.core.config import ConfigError


@dataclass(frozen=True)
class SesOptions:
    rate_fraction: float = 0.9
    account_check_seconds: float = 300.0
    connect_timeout: float = 3.0
    read_timeout: float = 10.0


def _number(env: Mapping[str, str], name: str, default: float, high: float | None = None) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0 or (high is not None and value > high):
        bound = f"greater than 0 and at most {high:g}" if high is not None else "greater than 0"
        raise ConfigError(f"{name}={raw!r} must be {bound}")
    return value


def ses_options(env: Mapping[str, str] | None = None) -> SesOptions:
    """Parse the SES options; raises ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    return SesOptions(
        rate_fraction=_number(env, "TRIALALERTS_SES_RATE_FRACTION", 0.9, high=1.0),
        account_check_seconds=_number(env, "TRIALALERTS_SES_ACCOUNT_CHECK_SECONDS", 300.0),
        connect_timeout=_number(env, "TRIALALERTS_SES_CONNECT_TIMEOUT", 3.0),
        read_timeout=_number(env, "TRIALALERTS_SES_READ_TIMEOUT", 10.0),
    )
