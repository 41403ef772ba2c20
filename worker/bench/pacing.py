"""`trialalerts bench`, SES pacing: four worker processes share one Redis pacer.

The stand-in endpoint answers GetAccount with a MaxSendRate and 429 to any
send beyond it in the trailing second.  The figure is the achieved rate
against the configured rate (90 % of MaxSendRate); the note has the 429
count and the busiest second.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import urllib.request
import uuid

from worker.bench.fake_ses import busiest_second
from worker.bench.rows import BenchRow
from worker.bench.ses_endpoint import (
    FROM,
    PACING_TARGET,
    PROCESSES,
    THREADS,
    bench_client,
    bench_message,
    fake_ses_process,
    redis_url,
    skipped_row,
)
from worker.sending.attempt import send_one
from worker.sending.control import RedisControl
from worker.sending.gate import SendGate
from worker.sending.pacer import RedisPacer
from worker.sending.ses import SesSender, read_account


def _pacing_worker(
    url: str, redis: str, prefix: str, total: int, threads: int, fraction: float
) -> None:
    """One worker process: `threads` threads take tickets until `total` sends are done."""
    import redis as redis_module

    client = redis_module.Redis.from_url(redis)
    account_client = bench_client(url, attempts=3)
    gate = SendGate(
        RedisPacer(client, 14 * fraction, prefix=prefix),
        RedisControl(client, prefix),
        read_account=lambda: read_account(account_client),
        rate_fraction=fraction,
    )
    gate.check_account()
    sender = SesSender(bench_client(url), from_address=FROM, configuration_set=None, gate=gate)

    def loop() -> None:
        while (ticket := client.incr(f"{prefix}:tickets")) <= total:
            attempt = send_one(sender, gate, bench_message(ticket))
            if attempt.throttled:
                client.incrby(f"{prefix}:throttled", attempt.throttled)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    client.close()


def pacing_rows(max_rate: float, seconds: float, fraction: float = 0.9) -> list[BenchRow]:
    import redis

    configured = max_rate * fraction
    total = int(configured * seconds)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url())
    name = f"pacing, {PROCESSES} processes x {THREADS} threads, MaxSendRate {max_rate:g}/s"
    try:
        client.ping()
    except redis.ConnectionError as error:
        return [skipped_row(name, f"Redis unreachable: {error}")]
    try:
        with fake_ses_process(max_rate) as url:
            context = multiprocessing.get_context("spawn")
            processes = [
                context.Process(
                    target=_pacing_worker, args=(url, redis_url(), prefix, total, THREADS, fraction)
                )
                for _ in range(PROCESSES)
            ]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
            with urllib.request.urlopen(f"{url}/_fake/arrivals") as answer:
                seen = json.load(answer)
        retried = int(client.get(f"{prefix}:throttled") or 0)
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
    times = [arrival[0] for arrival in seen["arrivals"]]
    achieved = (len(times) - 1) / (max(times) - min(times))
    return [
        BenchRow(
            name,
            achieved,
            "sends/s",
            configured,
            f"configured rate ({fraction:.0%} of MaxSendRate)",
            PACING_TARGET,
            f"{len(times)} sends; {seen['throttled']} throttled (429) by the endpoint, "
            f"{retried} seen by the workers; busiest second {busiest_second(seen['requests'])} "
            f"requests (limit {max_rate:g})",
        )
    ]
