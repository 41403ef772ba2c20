"""Who is who among the processes of an end-to-end run, for its CPU split (worker/bench/cpu_use.py).

The workers are their session; the SES endpoint and this process their pids;
each server is the one this run talks to, found from what it says of itself
(PostgreSQL's backend pid, whose parent is the server, and its start time;
Redis' `INFO` pid and uptime), with the processes it started.  RabbitMQ does
not say: it is the Erlang VM booted as a RabbitMQ node on this machine, when
the broker's host is this machine.  A server in another pid namespace or on
another host is not seen, and the row says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from worker.bench import cpu_use
from worker.bench.rows import BenchRow, Target, error_reason, not_run

# What each server's processes are called (their command name).
COMMANDS = {
    "PostgreSQL": ("postgres",),
    "Redis": ("redis-server", "valkey-server"),
    "RabbitMQ": ("beam.smp",),
}


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
RABBITMQ_BOOT = b"\0-s\0rabbit\0boot\0"  # a node's arguments; rabbitmqctl's own VM has others
START_SLACK = 2.0  # seconds: a server's start as it says it, against its start in /proc
_UNREADABLE = (OSError, ValueError, IndexError)  # no /proc, or not in the layout proc(5) gives


def _if_here(pid: Any, server: str, started: float | None) -> dict[int, str]:
    """{pid: server} when that pid runs here under the server's command name and started
    when the server says it did (not a namesake in another pid namespace)."""
    process = cpu_use.read_process(pid) if isinstance(pid, int) else None
    if process is None or process.name not in COMMANDS[server]:
        return {}
    if started is not None and abs(cpu_use.started_at(process) - started) > START_SLACK:
        return {}
    return {process.pid: server}


def _postgresql(engine: Engine) -> dict[int, str]:
    query = "SELECT pg_backend_pid(), extract(epoch FROM pg_postmaster_start_time())"
    with engine.connect() as connection:
        backend, started = connection.exec_driver_sql(query).one()
    process = cpu_use.read_process(backend)
    return _if_here(process.parent, "PostgreSQL", float(started)) if process else {}


def _redis(redis_url: str) -> dict[int, str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        info = client.info("server")
    except redis.ResponseError:  # INFO refused (an ACL, a managed service): not seen
        return {}
    finally:
        client.close()
    started = time.time() - float(info.get("uptime_in_seconds", 0))
    return _if_here(info.get("process_id"), "Redis", started)


def _rabbitmq(amqp_url: str) -> dict[int, str]:
    if urlsplit(amqp_url).hostname not in LOCAL_HOSTS:
        return {}
    found: dict[int, str] = {}
    for process in cpu_use.snapshot().processes.values():
        if process.name in COMMANDS["RabbitMQ"] and RABBITMQ_BOOT in _arguments(process.pid):
            found[process.pid] = "RabbitMQ"
    return found


def _arguments(pid: int) -> bytes:
    try:
        return b"\0" + (cpu_use.PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def servers(
    engine: Engine, redis_url: str, amqp_url: str | None
) -> tuple[dict[int, str], list[str]]:
    """(pid of each server of this run seen here: its group, the servers not seen).

    `amqp_url`: the RabbitMQ broker's, when the run uses one.
    """
    found = _postgresql(engine) | _redis(redis_url)
    found |= _rabbitmq(amqp_url) if amqp_url else {}
    wanted = ["PostgreSQL", "Redis"] + (["RabbitMQ"] if amqp_url else [])
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
    the work of the first digests.  Gives up waiting after `limit` seconds;
    without a readable /proc, waits a fixed 3 s.
    """
    quiet = 0.05 * os.sysconf("SC_CLK_TCK")  # CPU ticks in half a second at 10% of a core
    deadline = time.monotonic() + limit
    try:
        last, calm = _session_ticks(session), 0
        while calm < 2 and running() and time.monotonic() < deadline:
            time.sleep(0.5)
            now = _session_ticks(session)
            calm = calm + 1 if now - last < quiet else 0
            last = now
    except _UNREADABLE:
        time.sleep(3)


@dataclass(frozen=True)
class CpuSplit:
    """The CPU split of one timed run, or why there is none (the run's other figures stand)."""

    use: cpu_use.CpuUse | None
    unseen: tuple[str, ...] = ()  # servers of the run not seen in /proc
    reason: str = ""


class CpuWatch:
    """Snapshots around the timed part; reading /proc fails into a reason, never a crash."""

    def __init__(self, engine: Engine, redis_url: str, amqp_url: str | None, workers: int,
                 endpoint: int) -> None:  # fmt: skip
        self.reason = ""
        try:
            found, self.unseen = servers(engine, redis_url, amqp_url)
            self.group = grouping(workers, endpoint, found)
            self.before = cpu_use.snapshot()
        except _UNREADABLE as error:
            self.reason = _unreadable(error)

    def stop(self, seconds: float) -> CpuSplit:
        if self.reason:
            return CpuSplit(None, reason=self.reason)
        try:
            use = cpu_use.cpu_use(self.before, cpu_use.snapshot(), seconds, self.group)
        except _UNREADABLE as error:
            return CpuSplit(None, reason=_unreadable(error))
        return CpuSplit(use, tuple(self.unseen))


def _unreadable(error: BaseException) -> str:
    return f"CPU use not readable from /proc: {error_reason(error)}"


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
