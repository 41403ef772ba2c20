"""`trialalerts bench`, SES pacing: four worker processes share one Redis pacer.

The stand-in endpoint answers GetAccount with a MaxSendRate and 429 to any
send beyond it in the trailing second.  Four processes of four threads send
through the production gate (Redis pacer, account check) at the highest
allowed fraction of MaxSendRate, all starting at once.

- Figure: what arrived at the endpoint per second (the mean of its
  whole-second counts), read from the endpoint's own record.
- Anchor: MaxSendRate as the endpoint enforces it, measured in the same run
  the same way: the same four processes of four threads, with no pacer, on a
  fresh endpoint; it refuses what is too much.  If those senders never reach
  the limit (no 429 at all) there is no anchor, and the row says so.
- A second row: the 429s the endpoint answered during the paced run.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from worker.bench.arrivals import per_second_counts, rate_per_second
from worker.bench.fake_ses import busiest_second
from worker.bench.rows import BenchRow, at_most, not_run, ratio_at_least
from worker.bench.ses_endpoint import (
    FROM,
    PROCESSES,
    RAW,
    THREADS,
    bench_client,
    bench_message,
    endpoint_record,
    fake_ses_process,
    redis_url,
)
from worker.bench.ses_load import drive
from worker.bench.together import run_together, wait_for_the_others
from worker.core.config import MAX_SES_RATE_FRACTION
from worker.sending.attempt import send_one
from worker.sending.control import RedisControl
from worker.sending.gate import SendGate
from worker.sending.pacer import RedisPacer
from worker.sending.ses import SesSender, read_account

SHARE_OF_MAX_RATE = ratio_at_least(0.95)  # of MaxSendRate as measured at the endpoint
NONE_THROTTLED = at_most(0, "429s")
ANCHOR_NAME = f"MaxSendRate as enforced, measured: {PROCESSES} x {THREADS} senders, no pacer"


def _pacing_worker(
    url: str, redis: str, prefix: str, total: int, threads: int, fraction: float, barrier: Any
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
    wait_for_the_others(barrier)

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


def pacing_result_rows(
    name: str, paced: dict[str, Any], unpaced: dict[str, Any], seen_by_workers: int, max_rate: float
) -> list[BenchRow]:
    """The rows from the endpoint's records of the paced run and of the unpaced one."""
    times = [arrival[0] for arrival in paced["arrivals"]]
    counts = per_second_counts(times)
    figure = rate_per_second(times)
    anchor = rate_per_second([arrival[0] for arrival in unpaced["arrivals"]])
    reason = ""
    if figure is None:
        reason = f"{len(times)} sends arrived in less than one whole second: no rate to read"
    elif not unpaced["throttled"]:
        reason = "the unpaced senders never reached the endpoint's limit (no 429): no anchor"
    shown = f"{min(counts)}-{max(counts)}" if counts else "-"
    note = (
        f"{len(times)} sends; arrivals per whole second {shown} over {len(counts)} s; busiest "
        f"sliding second {busiest_second(paced['requests'])} requests (limit {max_rate:g}); "
        f"anchor: {len(unpaced['arrivals'])} accepted of {len(unpaced['requests'])} requests"
    )
    throttled_note = f"{seen_by_workers} throttled answers seen by the workers"
    return [
        BenchRow(name, figure, "sends/s", anchor, ANCHOR_NAME, SHARE_OF_MAX_RATE, note, reason),
        BenchRow(f"{name}: throttled", paced["throttled"], "429s", target=NONE_THROTTLED,
                 note=throttled_note),
    ]  # fmt: skip


def pacing_rows(
    max_rate: float, seconds: float, fraction: float = MAX_SES_RATE_FRACTION
) -> list[BenchRow]:
    import redis

    total = int(max_rate * fraction * seconds)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    name = (f"pacing, {PROCESSES} processes x {THREADS} threads, MaxSendRate {max_rate:g}/s, "
            f"fraction {fraction:g}")  # fmt: skip
    client = redis.Redis.from_url(redis_url())
    try:
        client.ping()
    except redis.ConnectionError as error:
        reason = f"Redis unreachable: {error}"
        return [
            not_run(name, reason, SHARE_OF_MAX_RATE, "sends/s"),
            not_run(f"{name}: throttled", reason, NONE_THROTTLED, "429s"),
        ]
    try:
        with fake_ses_process(max_rate) as url:
            run_together(_pacing_worker, (url, redis_url(), prefix, total, THREADS, fraction),
                         PROCESSES)  # fmt: skip
            paced = endpoint_record(url)
        with fake_ses_process(max_rate) as url:
            drive(url, PROCESSES, THREADS, sends=10**9, seconds=min(seconds, 5.0), size=len(RAW))
            unpaced = endpoint_record(url)
        seen = int(client.get(f"{prefix}:throttled") or 0)
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
    return pacing_result_rows(name, paced, unpaced, seen, max_rate)
