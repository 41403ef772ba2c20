"""The stand-in SES endpoint and what the SES bench rows share around it.

`trialalerts bench`'s send and pacing rows both drive worker.bench.fake_ses in
a process of its own, with the same test message and the same Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from worker.bench.rows import at_least
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
OVERHEAD_TARGET = at_least(500, "sends/CPU-s")  # per core: 2 cores >= 1,000 sends/s


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
        process.stdout.close()
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


def endpoint_record(url: str) -> dict[str, Any]:
    """What the endpoint recorded: `arrivals` ([time, to, tags, message id, size] of each
    accepted send), `requests` (the time of every SendEmail) and `throttled` (429s)."""
    with urllib.request.urlopen(f"{url}/_fake/arrivals") as answer:
        record: dict[str, Any] = json.load(answer)
    return record
