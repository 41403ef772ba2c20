"""SES sending options read from the environment (defaults when unset).

The share of MaxSendRate the workers use is a setting checked at start
(`Settings.ses_rate_fraction`, TRIALALERTS_SES_RATE_FRACTION).

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

from worker.core.config import positive_number


@dataclass(frozen=True)
class SesOptions:
    account_check_seconds: float = 300.0
    connect_timeout: float = 3.0
    read_timeout: float = 10.0


def ses_options(env: Mapping[str, str] | None = None) -> SesOptions:
    """Parse the SES options; raises ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    return SesOptions(
        account_check_seconds=positive_number(env, "TRIALALERTS_SES_ACCOUNT_CHECK_SECONDS", 300.0),
        connect_timeout=positive_number(env, "TRIALALERTS_SES_CONNECT_TIMEOUT", 3.0),
        read_timeout=positive_number(env, "TRIALALERTS_SES_READ_TIMEOUT", 10.0),
    )
