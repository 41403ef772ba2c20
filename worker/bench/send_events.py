"""SES event publishing as the fault runs see it: each accepted message's Send event, later.

Real SES publishes events through a configuration set to SNS, which delivers
them to the SQS queue the feedback poller reads: a Send event reaches the
database seconds after SES accepted the message, or never when no
configuration set publishes events.  `SendEvents` keeps each accepted
message's event until a delay drawn from `delay` has passed (the fault runs
use REALISTIC_DELAY); `delay=None` is publishing off: no event ever comes.
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime

from worker.bench.fake_ses import Arrival

# Seconds from SES's acceptance to the Send event on the feedback queue: SES
# publishes within seconds and SNS delivers to SQS within seconds more.
REALISTIC_DELAY = (1.0, 10.0)


def send_notification(arrival: Arrival) -> str:
    """The SNS notification SES event publishing makes of one accepted message."""
    mail = {"messageId": arrival.message_id, "destination": list(arrival.to),
            "timestamp": datetime.fromtimestamp(arrival.at, UTC).isoformat(),
            "tags": {key: [value] for key, value in arrival.tags.items()}}  # fmt: skip
    message = json.dumps({"eventType": "Send", "mail": mail, "send": {}})
    return json.dumps({"Type": "Notification", "MessageId": arrival.message_id,
                       "Message": message})  # fmt: skip


class SendEvents:
    """Send events waiting to be published; `on_send` is the endpoint's hook (any thread)."""

    def __init__(self, delay: tuple[float, float] | None = (0.0, 0.0), seed: int = 16) -> None:
        self.delay = delay
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._waiting: list[tuple[float, str]] = []  # (due on time.monotonic(), notification)

    @property
    def published(self) -> bool:
        return self.delay is not None

    def describe(self) -> str:
        if self.delay is None:
            return "event publishing off: no Send events"
        low, high = self.delay
        return f"Send events {low:g}-{high:g} s after each accepted message"

    def on_send(self, arrival: Arrival) -> None:
        if self.delay is None:
            return
        with self._lock:
            due = time.monotonic() + self._random.uniform(*self.delay)
            self._waiting.append((due, send_notification(arrival)))

    def take_due(self) -> list[str]:
        """The notifications whose time has come, removed from the waiting ones."""
        now = time.monotonic()
        with self._lock:
            due = [notification for at, notification in self._waiting if at <= now]
            self._waiting = [(at, notification) for at, notification in self._waiting if at > now]
        return due
