"""Run benchmark work in a fresh process and read that process's peak memory.

Each scenario (and each matching size) runs in a process of its own, started
with `spawn` so it inherits nothing from the caller: its peak RSS is then what
that work alone needed, interpreter and imports included.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def _measured(work: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, float]:
    result = work(*args)
    return result, peak_rss_mb()


def in_fresh_process(work: Callable[..., T], *args: Any) -> tuple[T, float]:
    """(work(*args), peak RSS in MiB) from a new interpreter; `work` must be importable."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measured, work, args).result()
