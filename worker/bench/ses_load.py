"""The SES endpoint alone, driven by as many client threads as the figure it anchors.

Each of `processes` processes runs `threads` threads, each with its own boto3
client sending raw messages of a given size with no pacing, until its share
of `sends` is done or `seconds` have passed.  Refusals (429 from an endpoint
that enforces MaxSendRate) are counted by the endpoint and not retried: the
rate is what arrived there.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from typing import Any

from worker.bench.ses_endpoint import FROM, bench_client
from worker.bench.together import run_together, wait_for_the_others


def raw_message(size: int) -> bytes:
    head = (
        b"From: Trialalerts <alerts@trialalerts.example>\r\nTo: reader@example.org\r\n"
        b"Subject: Your daily trial alerts\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head + b"x" * max(0, size - len(head))


def _sender_process(
    url: str, sends: int, seconds: float, threads: int, size: int, barrier: Any
) -> None:
    from botocore.exceptions import ClientError

    raw = raw_message(size)
    clients = [bench_client(url) for _ in range(threads)]
    wait_for_the_others(barrier)
    deadline = time.monotonic() + seconds

    def loop(client: Any, share: int) -> None:
        for n in range(share):
            if time.monotonic() >= deadline:
                return
            with suppress(ClientError):  # refused (429): the endpoint counts it
                client.send_email(FromEmailAddress=FROM,
                                  Destination={"ToAddresses": [f"r{n}@example.org"]},
                                  Content={"Raw": {"Data": raw}})  # fmt: skip

    shares = [sends // threads + (i < sends % threads) for i in range(threads)]
    running = [
        threading.Thread(target=loop, args=pair) for pair in zip(clients, shares, strict=True)
    ]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()


def drive(url: str, processes: int, threads: int, *, sends: int, seconds: float, size: int) -> None:
    """About `sends` messages of `size` bytes from processes x threads clients, no pacing."""
    share = -(-sends // processes)  # each process's share, rounded up
    run_together(_sender_process, (url, share, seconds, threads, size), processes)
