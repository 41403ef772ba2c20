"""The place gazetteer read in the background at a web worker's start (`places.warm_up`).

Whatever happens to that read (a data file missing, memory short, the
process forked in the middle of it), a request for a place still gets the
gazetteer, reading it itself if need be, and never waits on a lock that no
thread will release.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings

import pytest

from worker.subscriptions import places
from worker.subscriptions.places import Place, resolve_place

MILAN = Place("Milan, Italy", 45.46427, 9.18951)


@pytest.fixture
def unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as if it had not read the gazetteer yet (put back afterwards)."""
    monkeypatch.setattr(places, "_loaded", [])


@pytest.mark.usefixtures("unread")
@pytest.mark.parametrize("error", [FileNotFoundError("cities15000.json"), MemoryError()])
def test_a_warm_up_that_fails_logs_one_error_and_a_request_reads_the_gazetteer_itself(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    """A line in the JSON log, not a bare traceback on stderr from the thread."""
    read = places._read_gazetteer
    reads: list[int] = []

    def failing_once() -> places._Gazetteer:
        reads.append(1)
        if len(reads) == 1:
            raise error
        return read()

    uncaught: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    monkeypatch.setattr(places, "_read_gazetteer", failing_once)
    with caplog.at_level(logging.INFO, logger=places.__name__):
        places.warm_up().join()
    assert [args.exc_type for args in uncaught] == []
    [line] = caplog.records
    assert line.levelno == logging.ERROR and line.exc_info and line.exc_info[1] is error
    assert "place gazetteer" in line.getMessage()
    assert resolve_place("Milan, Italy") == MILAN
    assert len(reads) == 2


@pytest.mark.usefixtures("unread")
def test_requests_waiting_on_a_warm_up_that_fails_read_the_gazetteer_once_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = places._read_gazetteer
    reads: list[str] = []

    def slow_and_failing_first() -> places._Gazetteer:
        reads.append(threading.current_thread().name)
        time.sleep(0.2)  # the requests arrive while the warm-up reads
        if len(reads) == 1:
            raise OSError("disk gone")
        return read()

    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    monkeypatch.setattr(places, "_read_gazetteer", slow_and_failing_first)
    warming = places.warm_up()
    deadline = time.monotonic() + 10
    while not reads and time.monotonic() < deadline:  # the warm-up holds the lock and reads
        time.sleep(0.01)
    answers: list[Place] = []
    asking = [
        threading.Thread(target=lambda: answers.append(resolve_place("Milan, Italy")))
        for _ in range(4)
    ]
    for thread in asking:
        thread.start()
    for thread in [warming, *asking]:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert answers == [MILAN] * 4
    assert reads[0] == "gazetteer" and len(reads) == 2


@pytest.mark.usefixtures("unread")
def test_a_process_forked_while_the_gazetteer_is_read_reads_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child has no reading thread: the lock that thread held must not stay held there."""
    reading, done = threading.Event(), threading.Event()
    read = places._read_gazetteer

    def slow_read() -> places._Gazetteer:
        reading.set()
        done.wait(10)
        return read()

    monkeypatch.setattr(places, "_read_gazetteer", slow_read)
    warming = places.warm_up()
    assert reading.wait(10)
    with warnings.catch_warnings():  # Python 3.12+ warns of any fork with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: a quick read of its own, then out without pytest's exit
        code = 1
        try:
            places._read_gazetteer = lambda: "the child's own"  # type: ignore[assignment,return-value]
            code = 0 if places._gazetteer() == "the child's own" else 2
        finally:
            os._exit(code)
    done.set()
    warming.join()
    deadline = time.monotonic() + 10
    while (ended := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if ended == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child waited for the gazetteer lock for 10 s")
    assert os.waitstatus_to_exitcode(ended[1]) == 0
