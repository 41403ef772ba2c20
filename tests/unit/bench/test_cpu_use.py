"""CPU use by group of processes: real processes burning real CPU, read from /proc."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.bench.cpu_use import Process, Snapshot, cpu_use, snapshot

# Burns 0.4 s of CPU, says so, then waits to be told to end: read while it still lives.
BURN = (
    "import sys, time\nend = time.process_time() + 0.4\n"
    "while time.process_time() < end: pass\nprint('burnt', flush=True)\nsys.stdin.read()\n"
)


def test_a_process_in_its_own_session_is_counted_in_its_group_and_the_rest_in_other() -> None:
    before = snapshot()
    start = time.perf_counter()
    burner = subprocess.Popen(
        [sys.executable, "-c", BURN],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    end = time.process_time() + 0.2  # this process burns too, and is named by pid
    while time.process_time() < end:
        pass
    assert burner.stdout is not None and burner.stdin is not None
    assert burner.stdout.readline() == b"burnt\n"
    after = snapshot()
    seconds = time.perf_counter() - start
    burner.stdin.close()
    burner.wait()
    burner.stdout.close()

    def group(process: Process) -> str | None:
        if process.session == burner.pid:
            return "burner"
        return "tests" if process.pid == os.getpid() else None

    use = cpu_use(before, after, seconds, group)

    assert list(use.groups)[-1] == "other"
    assert 0.3 <= use.groups.get("burner", 0.0) <= 0.6, use
    assert use.groups["tests"] >= 0.15, use
    assert use.busy >= use.groups.get("burner", 0.0) + use.groups["tests"] - 0.05
    assert use.per_unit_ms(2)["tests"] == 1000 * use.groups["tests"] / 2


def test_an_ended_child_counts_through_its_waiting_parent_and_a_reused_pid_from_zero() -> None:
    hertz = os.sysconf("SC_CLK_TCK")
    before = Snapshot(busy=0, processes={
        10: Process(10, "postgres", 1, 10, 5, 100),  # the server
        11: Process(11, "postgres", 10, 11, 6, 50),  # a backend that ends: the server waits for it
        12: Process(12, "python3", 1, 12, 7, 300),  # ends; its pid is then taken by another
        20: Process(20, "redis-server", 99, 20, 8, 40),  # reaped by a process no group holds
    })  # fmt: skip
    after = Snapshot(busy=5 * hertz, processes={
        10: Process(10, "postgres", 1, 10, 5, 100 + 50 + 30),  # the backend's 50 + 30, whole
        12: Process(12, "redis-server", 1, 12, 900, hertz),  # the same pid, another process
    })  # fmt: skip
    servers = {"postgres": "PostgreSQL", "redis-server": "Redis"}

    use = cpu_use(before, after, 2.5, lambda process: servers.get(process.name))

    assert use.groups == pytest.approx(
        {"Redis": 1.0, "PostgreSQL": 30 / hertz, "other": 4.0 - 30 / hertz}
    )
    assert list(use.groups) == ["Redis", "PostgreSQL", "other"]
    assert use.busy == 5.0 and use.seconds == 2.5
    assert use.cores == after.cores == 1


def test_other_is_what_the_groups_leave_even_below_zero() -> None:
    hertz = os.sysconf("SC_CLK_TCK")
    before = Snapshot(busy=0, processes={1: Process(1, "a", 0, 1, 1, 0)})
    after = Snapshot(busy=hertz, processes={1: Process(1, "a", 0, 1, 1, hertz + 3)})

    use = cpu_use(before, after, 1.0, lambda process: "a")

    assert use.groups["other"] == pytest.approx(-3 / hertz)


def test_a_grandchild_that_ended_with_its_parent_counts_through_the_first_forebear_alive() -> None:
    hertz = os.sysconf("SC_CLK_TCK")
    before = Snapshot(busy=0, processes={
        10: Process(10, "server", 1, 10, 5, 100),
        11: Process(11, "child", 10, 10, 6, 20),  # ends, after waiting for its own child
        12: Process(12, "grandchild", 11, 10, 7, 30),  # ends first
    })  # fmt: skip
    after = Snapshot(busy=hertz, processes={
        10: Process(10, "server", 1, 10, 5, 100 + (20 + 5) + (30 + 7)),  # both, whole
    })  # fmt: skip

    use = cpu_use(before, after, 1.0, lambda process: "server")

    assert use.groups["server"] == pytest.approx(12 / hertz)  # their 5 + 7 ticks in the window


def test_the_snapshot_counts_the_cores_its_busy_time_covers() -> None:
    lines = Path("/proc/stat").read_text().splitlines()
    assert snapshot().cores == sum(1 for line in lines if re.match(r"cpu\d", line))
