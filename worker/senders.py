"""The sender chosen by TRIALALERTS_EMAIL_BACKEND: the file outbox or Amazon SES."""

from __future__ import annotations

from worker.config import Settings
from worker.outbox import FileOutbox, Sender


def make_sender(settings: Settings) -> Sender:
    if settings.email_backend == "file":
        return FileOutbox.from_settings(settings)
    raise NotImplementedError(f"email backend {settings.email_backend!r}")
