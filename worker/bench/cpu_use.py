"""Where a machine's CPU went during a timed run, by group of processes (Linux /proc).

The end-to-end scenario runs its workers, PostgreSQL, the broker and the SES
endpoint on the same cores, so a figure far below its target needs the split
to be read: which of them used the cores, per unit of work.  Two snapshots
of every process's CPU ticks, taken around the timed part; the machine's
busy time comes from /proc/stat, and what no group claims (the kernel, the
other processes) is "other".
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
    session: int
    ticks: int  # user + system CPU time, its own and that of its children it waited for


@dataclass(frozen=True)
class Snapshot:
    busy: int  # ticks the machine spent not idle, all CPUs
    processes: dict[int, Process]


@dataclass(frozen=True)
class CpuUse:
    cores: int
    seconds: float  # wall time between the two snapshots
    busy: float  # CPU-seconds the machine spent not idle
    groups: dict[str, float]  # CPU-seconds per group, most first, "other" last

    def per_unit_ms(self, units: int) -> dict[str, float]:
        return {name: 1000 * used / max(units, 1) for name, used in self.groups.items()}


def _process(entry: Path) -> Process | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:  # it ended, or is not ours to read
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # from the state on: field 3 of proc(5)
    ticks = sum(map(int, fields[11:15]))  # utime, stime, cutime, cstime
    return Process(int(entry.name), name, int(fields[3]), ticks)


def snapshot() -> Snapshot:
    """Every process's CPU ticks and the machine's busy ticks, now."""
    first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, first[:7])  # steal: not ours
    processes = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (process := _process(entry)) is not None:
            processes[process.pid] = process
    return Snapshot(user + nice + system + irq + softirq, processes)


def cpu_use(
    before: Snapshot,
    after: Snapshot,
    seconds: float,
    group: Callable[[Process], str | None],
) -> CpuUse:
    """CPU-seconds per group between two snapshots; `group` names a process's group, or None.

    A process born in between counts from zero.  One that ended in between
    (a database backend, a parallel query worker) is counted by its parent,
    which waited for it, whole: its ticks before the first snapshot are taken
    off its group again.  Its parent should be of its group (the server that
    started it), as it is for the groups measured here.
    """
    hertz = os.sysconf("SC_CLK_TCK")
    groups: dict[str, float] = {}
    for pid, process in after.processes.items():
        name = group(process)
        if name is None:
            continue
        earlier = before.processes.get(pid)
        start = earlier.ticks if earlier is not None and earlier.name == process.name else 0
        groups[name] = groups.get(name, 0.0) + (process.ticks - start) / hertz
    for pid, process in before.processes.items():
        later = after.processes.get(pid)
        if (later is None or later.name != process.name) and (name := group(process)):
            groups[name] = groups.get(name, 0.0) - process.ticks / hertz
    busy = (after.busy - before.busy) / hertz
    ordered = dict(sorted(groups.items(), key=lambda item: -item[1]))
    ordered["other"] = max(busy - sum(groups.values()), 0.0)
    return CpuUse(os.cpu_count() or 1, seconds, busy, ordered)
