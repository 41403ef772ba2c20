"""The email sender port and its file adapter.

Every sender takes finished MIME bytes and returns the provider's message id,
which the delivery row stores.  `FileOutbox` is the embedded default: one
`.eml` file per delivery, readable by any mail client, so a demo or a test can
look at exactly what would have been sent.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from worker.core.config import Settings


class Sender(Protocol):
    """Sends one raw email to one recipient; returns the provider's message id."""

    def send(self, *, to_addr: str, raw: bytes, delivery_id: int, tags: dict[str, str]) -> str: ...


class FileOutbox:
    """Writes each email to `<directory>/delivery-<id>.eml`.

    The file appears whole or not at all (written to a temporary file, then
    renamed), and sending the same delivery again rewrites the same file, so a
    retried delivery never leaves two copies.  Tags are not written: they are
    provider metadata, not part of the message.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def from_settings(cls, settings: Settings) -> FileOutbox:
        return cls(settings.outbox)

    def path_for(self, delivery_id: int) -> Path:
        if delivery_id < 0:  # confirmation mails of sign-ups carry -signup_id
            return self.directory / f"signup-{-int(delivery_id):012d}.eml"
        return self.directory / f"delivery-{int(delivery_id):012d}.eml"

    def send(self, *, to_addr: str, raw: bytes, delivery_id: int, tags: dict[str, str]) -> str:
        target = self.path_for(delivery_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(raw)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target.name
