"""Real `trialalerts` processes for the operations tests: started, waited for, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.conftest import redis_database


def own_redis_url() -> str:
    """A Redis database apart from the one the rest of the suite flushes (REDIS_URL's).

    Worker processes take any message on their queues: on the shared database
    they would work other runs' wake-ups and miss their own, or see them flushed.
    """
    url = redis_database(1)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not reachable at {url}: {error}", pytrace=False)
    finally:
        client.close()
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any TRIALALERTS_* or dramatiq/prometheus folder of its own."""
    dropped = ("TRIALALERTS_", "dramatiq_prom", "PROMETHEUS_MULTIPROC", "prometheus_multiproc")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)} | settings


@contextmanager
def running(args: list[str], env: dict[str, str], cwd: Path, name: str) -> Iterator[Path]:
    """`python -m worker ARGS` in its own session; yields the folder of NAME.out / NAME.err."""
    out, err = (cwd / f"{name}.out").open("wb"), (cwd / f"{name}.err").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", *args],
        env=env,
        cwd=cwd,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    try:
        yield cwd
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        out.close()
        err.close()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until(condition: Callable[[], object], seconds: float = 30, what: str = "") -> None:
    """Call CONDITION until it is true (a refused connection counts as false), or fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def metrics_value(text: str, sample: str) -> float | None:
    """The value of one sample line (`name{labels}`) in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None
