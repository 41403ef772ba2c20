"""The cycle collector pause ends on however the block is left, asynchronous exceptions included.

dramatiq's time limit raises TimeLimitExceeded in the actor's thread wherever
it happens to be, and SIGINT raises KeyboardInterrupt in the main thread: a
worker thread that left the collector off would leave it off for the process.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from worker.core.collector import collector_paused


class Interrupted(BaseException):
    """What an asynchronous exception is: raised between two steps of the code it interrupts."""


@contextmanager
def _interrupted_as(function: Any) -> Iterator[None]:
    """Raise Interrupted the moment the C function `function` returns, as a signal would."""

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_return" and arg is function:
            sys.setprofile(None)
            raise Interrupted

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(None)


def test_an_exception_arriving_as_the_collector_is_paused_turns_it_back_on() -> None:
    assert gc.isenabled()
    try:
        with pytest.raises(Interrupted), _interrupted_as(gc.disable), collector_paused():
            pass
        assert gc.isenabled()
    finally:
        gc.enable()


def test_an_exception_inside_the_block_turns_it_back_on() -> None:
    with pytest.raises(KeyboardInterrupt), collector_paused():
        raise KeyboardInterrupt
    assert gc.isenabled()
