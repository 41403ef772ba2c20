"""The stand-in SES endpoint and what the SES bench rows share around it.

`trialalerts bench`'s send and pacing rows both drive worker.bench.fake_ses in
a process of its own, with the same test message and the same Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from worker.bench.rows import BenchRow
from worker.sending.attempt import Message
from worker.sending.ses import ClientTimeouts, make_client

REDIS_ENV = "TRIALALERTS_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
FROM = "alerts@trialalerts.example"
RAW = (
    b"From: Trialalerts <alerts@trialalerts.example>\r\nTo: reader@example.org\r\n"
    b"Subject: Your daily trial alerts\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"x" * 20_000
)
NO_LIMIT = 1e9
PROCESSES, THREADS = 4, 4
WORKER_THREADS = 8  # a worker process's threads in the end-to-end row
OVERHEAD_TARGET = ">= 500 sends/s per core (2 cores >= 1,000/s)"
PACING_TARGET = ">= 95 % of the configured rate, 0 throttled"


def redis_url() -> str:
    return os.environ.get(REDIS_ENV) or DEFAULT_REDIS_URL


@contextmanager
def fake_ses_process(max_rate: float | None = None) -> Iterator[str]:
    """The stand-in endpoint in its own process; yields its URL."""
    args = ["--max-rate", str(max_rate)] if max_rate else []
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.bench.fake_ses", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _session() -> Any:
    return boto3.session.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    )


def bench_client(url: str, attempts: int = 1) -> Any:
    return make_client(attempts, ClientTimeouts(), _session(), endpoint_url=url)


def bench_message(n: int) -> Message:
    return Message(n, f"reader{n:06d}@example.org", RAW, {"delivery": str(n), "frequency": "daily"})


def skipped_row(name: str, why: str) -> BenchRow:
    return BenchRow(name, float("nan"), "", None, "", note=f"not measured: {why}")
