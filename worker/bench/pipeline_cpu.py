"""Who is who among the processes of an end-to-end run, for its CPU split (worker/bench/cpu_use.py).

The workers are their session; the SES endpoint and this process their pids;
each server is the one this run talks to, found from what it says of itself
(PostgreSQL's backend pid, whose parent is the server; Redis' `INFO`), with
the processes it started.  RabbitMQ does not say: it is the Erlang VM
running on this machine.  A server in another pid namespace or on another
host is not seen, and the row says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from worker.bench import cpu_use
from worker.bench.rows import BenchRow, Target, error_reason, not_run

# What each server's processes are called (their command name).
COMMANDS = {
    "PostgreSQL": ("postgres",),
    "Redis": ("redis-server", "valkey-server"),
    "RabbitMQ": ("beam.smp",),
}


def _if_named(pid: int | None, server: str) -> dict[int, str]:
    """{pid: server} when that pid runs here under the server's command name."""
    process = cpu_use.read_process(pid) if isinstance(pid, int) else None
    return {process.pid: server} if process and process.name in COMMANDS[server] else {}


def servers(engine: Engine, redis_url: str, rabbitmq: bool) -> tuple[dict[int, str], list[str]]:
    """(pid of each server of this run seen here: its group, the servers not seen)."""
    import redis

    with engine.connect() as connection:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    process = cpu_use.read_process(backend) if isinstance(backend, int) else None
    found = _if_named(process.parent, "PostgreSQL") if process else {}
    client = redis.Redis.from_url(redis_url)
    try:
        found |= _if_named(client.info("server").get("process_id"), "Redis")
    finally:
        client.close()
    if rabbitmq:
        for each in cpu_use.snapshot().processes.values():
            found |= _if_named(each.pid, "RabbitMQ")
    wanted = ["PostgreSQL", "Redis"] + (["RabbitMQ"] if rabbitmq else [])
    return found, [server for server in wanted if server not in found.values()]


def grouping(
    workers: int, endpoint: int, found: dict[int, str]
) -> Callable[[cpu_use.Process], str | None]:
    """The group of a process: the workers, the endpoint, this process, a server or its child."""
    this = os.getpid()

    def group(process: cpu_use.Process) -> str | None:
        if process.session == workers:
            return "workers"
        if process.pid == endpoint:
            return "SES endpoint"
        if process.pid == this:
            return "this process"
        return found.get(process.pid) or found.get(process.parent)

    return group


def _session_ticks(session: int) -> int:
    return sum(p.ticks for p in cpu_use.snapshot().processes.values() if p.session == session)


def wait_until_settled(session: int, running: Callable[[], bool], limit: float = 60.0) -> None:
    """Until a session's processes have booted: two half seconds in a row under 10% of a core.

    Their start-up (imports, forks) would otherwise be timed, and counted as
    the work of the first digests.  Gives up waiting after `limit` seconds.
    """
    quiet = 0.05 * os.sysconf("SC_CLK_TCK")  # CPU ticks in half a second at 10% of a core
    deadline = time.monotonic() + limit
    last, calm = _session_ticks(session), 0
    while calm < 2 and running() and time.monotonic() < deadline:
        time.sleep(0.5)
        now = _session_ticks(session)
        calm = calm + 1 if now - last < quiet else 0
        last = now


@dataclass(frozen=True)
class CpuSplit:
    """The CPU split of one timed run, or why there is none (the run's other figures stand)."""

    use: cpu_use.CpuUse | None
    unseen: tuple[str, ...] = ()  # servers of the run not seen in /proc
    reason: str = ""


class CpuWatch:
    """Snapshots around the timed part; reading /proc fails into a reason, never a crash."""

    def __init__(self, engine: Engine, redis_url: str, rabbitmq: bool, workers: int,
                 endpoint: int) -> None:  # fmt: skip
        self.reason = ""
        try:
            found, self.unseen = servers(engine, redis_url, rabbitmq)
            self.group = grouping(workers, endpoint, found)
            self.before = cpu_use.snapshot()
        except _UNREADABLE as error:
            self.reason = f"CPU use not readable from /proc: {error_reason(error)}"

    def stop(self, seconds: float) -> CpuSplit:
        if self.reason:
            return CpuSplit(None, reason=self.reason)
        try:
            use = cpu_use.cpu_use(self.before, cpu_use.snapshot(), seconds, self.group)
        except _UNREADABLE as error:
            return CpuSplit(None, reason=f"CPU use not readable from /proc: {error_reason(error)}")
        return CpuSplit(use, tuple(self.unseen))


_UNREADABLE = (OSError, ValueError, IndexError)  # no /proc, or not in the layout proc(5) gives


def cpu_row(broker: str, split: CpuSplit, sent: int, target: Target) -> BenchRow:
    """The machine's CPU per digest and which processes used it."""
    scenario = f"end to end, {broker}: CPU per digest"
    use = split.use
    if use is None:
        return not_run(scenario, split.reason, unit="CPU-ms")
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in use.per_unit_ms(sent).items())
    unseen = f"; not seen in /proc: {', '.join(split.unseen)}" if split.unseen else ""
    [bound] = target.bounds
    return BenchRow(
        scenario, 1000 * use.busy / max(sent, 1), "CPU-ms",
        note=f"the {use.cores} cores were {use.busy / use.seconds:.2f} busy from the claim to the "
        f"last sent row; per digest (ms): {parts}{unseen}; at the target's "
        f"{bound.value:,.0f} digests/s the cores give {1000 * use.cores / bound.value:.1f} ms "
        "a digest",
    )  # fmt: skip
