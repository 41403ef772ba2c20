"""The cycle collector pause: back on afterwards only if it was on, however blocks overlap."""

from __future__ import annotations

import gc

from worker.core.collector import collector_paused


def test_the_collector_is_paused_inside_and_on_again_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_blocks_leave_it_on_and_a_caller_who_had_it_off_keeps_it_off() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()  # another thread's block, begun while the first runs
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
