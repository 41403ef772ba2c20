"""The process's sender is built once, however many threads ask for it at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from worker.core.config import Settings
from worker.core.runtime import Runtime
from worker.sending import senders
from worker.sending.outbox import FileOutbox


def test_threads_asking_at_once_share_one_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[FileOutbox] = []

    def slow_to_build(settings: Settings) -> FileOutbox:
        time.sleep(0.05)  # as long as building SES clients takes, give or take
        built.append(FileOutbox.from_settings(settings))
        return built[-1]

    monkeypatch.setattr(senders, "make_sender", slow_to_build)
    runtime = Runtime(Settings(outbox=tmp_path / "outbox", secret_keys=(TEST_KEY,)))
    start = threading.Barrier(8)
    got: list[object] = []

    def first_message() -> None:
        start.wait()
        got.append(senders.sender_of(runtime))

    threads = [threading.Thread(target=first_message) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert got == built * 8
