"""Where a machine's CPU went during a timed run, by group of processes (Linux /proc).

The end-to-end scenario runs its workers, PostgreSQL, the broker and the SES
endpoint on the same cores, so a figure far below its target needs the split
to be read: which of them used the cores, per unit of work.  Two snapshots
of every process's CPU ticks, taken around the timed part; the machine's
busy time comes from /proc/stat, and what no group claims (the kernel, the
other processes) is "other".  The groups are read from per-process times and
the busy time from ticks, so "other" can come out a little below zero.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    name: str  # the command's name, as ps shows it
    parent: int
    session: int
    started: int  # ticks after boot: with the pid, who the process is
    ticks: int  # user + system CPU time, its own and that of its children it waited for


@dataclass(frozen=True)
class Snapshot:
    busy: int  # ticks the machine spent not idle, all CPUs
    processes: dict[int, Process]
    cores: int = 1  # the CPUs `busy` counts

    def alive(self, process: Process) -> bool:
        """Whether this very process (not another that took its pid) is in the snapshot."""
        now = self.processes.get(process.pid)
        return now is not None and now.started == process.started


@dataclass(frozen=True)
class CpuUse:
    cores: int  # the machine's CPUs: those the busy time counts
    seconds: float  # wall time between the two snapshots
    busy: float  # CPU-seconds the machine spent not idle
    groups: dict[str, float]  # CPU-seconds per group, most first, "other" last

    def per_unit_ms(self, units: int) -> dict[str, float]:
        return {name: 1000 * used / max(units, 1) for name, used in self.groups.items()}


def read_process(pid: int) -> Process | None:
    """The process's line of /proc; None when it has ended or cannot be read."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # from the state on: field 3 of proc(5)
    ticks = sum(map(int, fields[11:15]))  # utime, stime, cutime, cstime
    return Process(pid, name, int(fields[1]), int(fields[3]), int(fields[19]), ticks)


def _stat_lines() -> list[str]:
    return (PROC / "stat").read_text().splitlines()


def snapshot() -> Snapshot:
    """Every process's CPU ticks and the machine's busy ticks, now."""
    lines = _stat_lines()
    first = lines[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, first[:7])  # steal: not ours
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3].isdigit())
    processes = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (process := read_process(int(entry.name))) is not None:
            processes[process.pid] = process
    return Snapshot(user + nice + system + irq + softirq, processes, cores)


def started_at(process: Process) -> float:
    """When the process started, in seconds since the epoch."""
    boot = next(int(line.split()[1]) for line in _stat_lines() if line.startswith("btime "))
    return boot + process.started / os.sysconf("SC_CLK_TCK")


def cpu_use(
    before: Snapshot,
    after: Snapshot,
    seconds: float,
    group: Callable[[Process], str | None],
) -> CpuUse:
    """CPU-seconds per group between two snapshots; `group` names a process's group, or None.

    A process born in between counts from zero.  One that ended in between (a
    database backend, a parallel query worker) is counted by the parent that
    waited for it, whole (through its parent's parent when that ended too):
    its ticks from before the first snapshot are taken off the group of its
    nearest forebear still alive.  With none, its time is in "other".
    """
    hertz = os.sysconf("SC_CLK_TCK")
    ticks: dict[str, int] = {}
    for process in after.processes.values():
        name = group(process)
        if name is not None:
            earlier = before.processes.get(process.pid)
            start = earlier.ticks if earlier is not None and after.alive(earlier) else 0
            ticks[name] = ticks.get(name, 0) + process.ticks - start
    for process in before.processes.values():
        if after.alive(process):
            continue
        forebear = _nearest_alive(before, after, process)
        name = group(forebear) if forebear is not None else None
        if name is not None:
            ticks[name] = ticks.get(name, 0) - process.ticks
    groups = {name: used / hertz for name, used in sorted(ticks.items(), key=lambda x: -x[1])}
    busy = (after.busy - before.busy) / hertz
    groups["other"] = busy - sum(groups.values())
    return CpuUse(after.cores, seconds, busy, groups)


def _nearest_alive(before: Snapshot, after: Snapshot, process: Process) -> Process | None:
    """The process's parent, or the parent's parent..., first found alive in `after`."""
    forebear = before.processes.get(process.parent)
    for _ in range(64):  # a chain read from two moments of a changing table: bounded
        if forebear is None or after.alive(forebear):
            return forebear
        forebear = before.processes.get(forebear.parent)
    return None
