"""The console's subscriber search on a million subscriptions (PostgreSQL).

A throw-away database is filled in SQL (generate_series: half a million
subscribers, two subscriptions each, conditions from a short list), then
each kind of search the console runs is timed, first page and a later page
(keyset, after a cursor), the best of a few runs.  The anchor is the same
query with index scans switched off (what the search would cost without the
prefix indexes), measured in the same run; each row's note says how its plan
reads the table.  tests/integration/subscriptions/test_search.py asserts the
plans on a smaller table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from worker.bench.databases import throwaway_postgres
from worker.bench.rows import BenchRow, at_most, ratio_at_most
from worker.bench.scale import Scale, by_scale
from worker.bench.search_data import load_subscriptions, plan_of, recorded_statements
from worker.core.db import make_engine, make_sessionmaker
from worker.subscriptions.search import search_addresses, search_conditions

# Well under a second, and far cheaper than the same search without its index.
TARGET = at_most(100, "ms") & ratio_at_most(0.2)
RUNS = 5


@dataclass(frozen=True)
class Probe:
    name: str
    search: Callable[[Session], Any]

    def scan(self, plan: str) -> str:
        """How the plan reads the table, in a few words."""
        scans = [line.strip().lstrip("-> ") for line in plan.splitlines() if "Scan" in line]
        return "; ".join(scan.split("  (")[0] for scan in scans)


def probes(session: Session) -> list[Probe]:
    """The searches an admin runs: common and rare prefixes, first and later pages."""
    broad = search_addresses(session, "person1")
    rare = search_conditions(session, "asthma 12")
    return [
        Probe("address, common prefix", lambda s: search_addresses(s, "person1")),
        Probe("address, next page", lambda s: search_addresses(s, "person1", broad.after)),
        Probe("address, one person", lambda s: search_addresses(s, "person12345.")),
        Probe("condition, rare prefix", lambda s: search_conditions(s, "asthma 12")),
        Probe(
            "condition, rare, next page", lambda s: search_conditions(s, "asthma 12", rare.after)
        ),
        Probe("condition, common prefix", lambda s: search_conditions(s, "breast")),
    ]


def _best_ms(session: Session, probe: Probe) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = perf_counter()
        probe.search(session)
        best = min(best, perf_counter() - start)
    return best * 1000


def measure(url: str, label: str) -> list[BenchRow]:
    """Rows for every probe on the database at `url` (filled already)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rows = []
    try:
        with sessions() as session:
            for probe in probes(session):
                with recorded_statements(engine) as statements:
                    probe.search(session)
                plan = plan_of(session.connection(), *statements[0])
                figure = _best_ms(session, probe)
                session.execute(text("SET enable_indexscan = off"))
                session.execute(text("SET enable_bitmapscan = off"))
                anchor = _best_ms(session, probe)
                session.execute(text("RESET enable_indexscan"))
                session.execute(text("RESET enable_bitmapscan"))
                rows.append(
                    BenchRow(
                        f"admin search {label}: {probe.name}", figure, "ms", anchor,
                        "the same query without index scans", TARGET,
                        note=f"plan: {probe.scan(plan)}",
                    )
                )  # fmt: skip
            session.rollback()
    finally:
        engine.dispose()
    return rows


def admin_search_rows(scale: Scale) -> list[BenchRow]:
    subscriptions, label = by_scale(scale, (20_000, "20k"), (200_000, "200k"), (1_000_000, "1M"))
    with throwaway_postgres() as url:
        engine = make_engine(url)
        try:
            start = perf_counter()
            load_subscriptions(engine, subscriptions)
            seconds = perf_counter() - start
        finally:
            engine.dispose()
        load = BenchRow(
            f"admin search {label}: load (SQL)", subscriptions / seconds, "subscriptions/s",
            None, "", note="generate_series into the real schema, ANALYZE included",
        )  # fmt: skip
        return [load, *measure(url, label)]
