"""Matching at 10k, 100k and 1M subscriptions: decision speed, notification writes, memory.

Each size gets a database of its own, filled by one fresh process
(`matching_setup`) and copied once.  Two more fresh processes then match the
same waiting events: one on the copy with the notification output stubbed
out (the matching decision alone: its time per event and the memory matching
needs), one on the original with everything (output timed apart, writes
compared with COPY, peak RSS).  Anchors: the smallest size's time per event,
COPY of the same notification rows, and the same size's peak RSS without output.
At the smallest size, a mix with eligibility and place filters is matched
against the plain one (worker/bench/matching_mix.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.bench.databases import database_name, throwaway_postgres
from worker.bench.matching_mix import filtered_mix_rows
from worker.bench.matching_run import MatchFigures, run_matching
from worker.bench.matching_setup import NEW_SHARE, MatchingSetup, build
from worker.bench.rows import (
    BenchRow,
    at_least,
    at_most,
    error_reason,
    not_run,
    ratio_at_least,
    ratio_at_most,
)
from worker.bench.rss import in_fresh_process
from worker.bench.scale import Scale, by_scale

BASE = 10_000  # subscriptions: the size the speed target and the flatness are measured at
EVENTS_TARGET = at_least(10_000, "events/s")  # the matching decision at 10k subscriptions
FLAT = ratio_at_most(1.5)  # time per event at every larger size against the smallest one
WRITES_VS_COPY = ratio_at_least(0.5)
RSS_AT_1M = at_most(250, "MB")  # the matching process at 1M subscriptions, output included


def size_label(subscriptions: int) -> str:
    if subscriptions >= 1_000_000 and subscriptions % 1_000_000 == 0:
        return f"{subscriptions // 1_000_000}M"
    if subscriptions >= 1000 and subscriptions % 1000 == 0:
        return f"{subscriptions // 1000}k"
    return str(subscriptions)


def _rate(count: float, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


@dataclass(frozen=True)
class SizeResult:
    subscriptions: int
    setup: MatchingSetup
    decision: MatchFigures  # output stubbed out
    full: MatchFigures  # with the notification output

    @property
    def per_event_us(self) -> float:
        return self.decision.match / self.decision.events * 1e6


def measure_size(subscriptions: int, events: int) -> SizeResult:
    with throwaway_postgres() as url:
        setup, _ = in_fresh_process(build, url, subscriptions, events)
        with throwaway_postgres(template=database_name(url)) as copy_url:
            decision, _ = in_fresh_process(run_matching, copy_url, setup.batches, False)
        full, _ = in_fresh_process(run_matching, url, setup.batches, True)
    return SizeResult(subscriptions, setup, decision, full)


def size_rows(result: SizeResult, base: SizeResult | None, base_size: int) -> list[BenchRow]:
    """The rows of one size; `base` is the smallest size's result (None: it did not run)."""
    setup, decision, run = result.setup, result.decision, result.full
    label = f"matching {size_label(result.subscriptions)} subscriptions"
    base_label = size_label(base_size)
    lists = (
        f"{setup.subscriptions:,} subscriptions of {setup.subscribers:,} subscribers, "
        f"{setup.criteria:,} distinct criteria; {decision.events:,} events in "
        f"{len(setup.batches)} batches, {NEW_SHARE:.0%} new studies"
    )
    split = (
        f"output stubbed out; per event: {decision.candidates / decision.events:,.0f} "
        f"candidates, {decision.evaluation / decision.events * 1e6:,.0f} us evaluating them "
        "(the study's concepts, its terms, their criteria's filters and sites), "
        f"{decision.previous / decision.events * 1e6:,.0f} us on previous snapshots, "
        "the rest reading the batch (queries, decoding summaries); "
        f"criteria cache cold load {decision.index_load:.2f} s, untimed"
    )
    output = (
        f"{run.notifications:,} notifications ({run.notifications / run.events:,.1f} per event); "
        f"sizing its chunks {run.sizing:.1f} s, rows per subscriber {run.fanout:.1f} s, "
        f"writes {run.writes:.1f} s, "
        f"decision with the output present {run.decision / run.events * 1e6:,.0f} us/event"
    )
    larger = result.subscriptions > base_size
    return [
        BenchRow(
            f"{label}: events matched", _rate(decision.events, decision.match), "events/s",
            target=EVENTS_TARGET if result.subscriptions == BASE else None,
            note=f"matching decision, output stubbed out; {lists}",
        ),
        BenchRow(
            f"{label}: time per event", result.per_event_us, "us/event",
            base.per_event_us if base else None,
            f"time per event at {base_label}", FLAT if larger else None, split,
        ),
        BenchRow(
            f"{label}: events incl. output", _rate(run.events, run.match + run.commit),
            "events/s", note=f"match_events with its output and commit; {output}",
        ),
        BenchRow(
            f"{label}: notification writes", _rate(run.notifications, run.writes),
            "notifications/s", _rate(run.notifications, run.copy),
            "COPY of the same rows, same batches", WRITES_VS_COPY,
            "write_notifications (INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING, "
            "<= ~20k rows a statement) vs "
            "psycopg COPY into a table with the same indexes and foreign keys",
        ),
        BenchRow(
            f"{label}: peak RSS", run.peak_rss_mb, "MB", decision.peak_rss_mb,
            "peak RSS, output stubbed out",
            RSS_AT_1M if result.subscriptions == 1_000_000 else None,
            f"the matching process, start-up included; {decision.load_rss_mb:,.0f} MB right "
            f"after loading the criteria cache ({decision.criteria:,} criteria)",
        ),
    ]  # fmt: skip


def matching_rows(scale: Scale) -> list[BenchRow]:
    """Rows of each size; a size that fails is a row that did not run, the others still count."""
    sizes = by_scale(scale, (200, 1000), (10_000, 100_000), (10_000, 100_000, 1_000_000))
    events = by_scale(scale, 40, 1000, 1000)
    rows: list[BenchRow] = []
    base: SizeResult | None = None
    for size in sizes:
        try:
            result = measure_size(size, events)
        except Exception as error:  # noqa: BLE001 - reported as this size's row
            rows.append(not_run(f"matching {size_label(size)} subscriptions", error_reason(error)))
            continue
        if size == sizes[0]:
            base = result
        rows += size_rows(result, base, sizes[0])
    rows += filtered_mix_rows(sizes[0], events, scale, size_label(sizes[0]))
    return rows  # with --quick, no 1M rows: worker.bench.report says so under the table
