"""How often and when a subscriber hears from us, when they have not said otherwise.

Settings, the tables, imports, sign-ups, matching, digests and the web forms
all need these; they are written here once so the stages cannot drift apart.
"""

from __future__ import annotations

FREQUENCIES = ("instant", "daily", "weekly", "monthly")  # fastest first: matching relies on it
DEFAULT_FREQUENCY = "daily"
DEFAULT_SEND_HOUR = 8  # local time in the subscriber's zone
DEFAULT_TIMEZONE = "UTC"
