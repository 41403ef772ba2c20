"""The benchmark registry, and running scenarios into one list of rows.

A scenario is a function `(scale) -> list[BenchRow]` importable by name,
named here as "module:function" and imported when it runs (so that
`trialalerts` commands other than `bench` do not load every scenario).  The
runner starts each in a fresh process and adds a row with that process's peak
RSS, unless the scenario starts its own processes and reports their memory
itself (matching does, one process per list size).  A scenario that raises
(a service down, a bug) becomes one row that did not run, with the error as
its reason, and the others still run.  To add a scenario, write its module
under worker/bench/ and add it to SCENARIOS.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from time import perf_counter

from worker.bench.rows import BenchRow, error_reason, not_run
from worker.bench.rss import in_fresh_process
from worker.bench.scale import Scale


def ses_rows(scale: Scale) -> list[BenchRow]:
    """SES sends/s and pacing accuracy; the sends run in a process of their own."""
    from worker.bench.send import bench_send

    rows, peak = in_fresh_process(bench_send, scale != "full")
    return [*rows, rss_row("ses", peak)]


Rows = Callable[[Scale], list[BenchRow]]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Rows | str  # the function, or where it is: "module:function"
    about: str
    own_processes: bool = False  # starts its processes itself and reports their peak RSS

    def rows_function(self) -> Rows:
        if not isinstance(self.run, str):
            return self.run
        module, function = self.run.split(":")
        found: Rows = getattr(import_module(module), function)
        return found


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "ingest",
        "worker.bench.ingest:ingest_rows",
        "publish + ingest of real records, SQLite and PostgreSQL",
    ),
    Scenario(
        "matching",
        "worker.bench.matching:matching_rows",
        "condition matching at 10k/100k/1M subscriptions, notification writes vs COPY",
        own_processes=True,
    ),
    Scenario(
        "matching-quality",
        "worker.bench.matching_quality:quality_rows",
        "precision and recall of condition matching on labelled pairs of real records",
    ),
    Scenario(
        "digests", "worker.bench.digests:digest_rows", "send-ready digests vs bare Jinja2 rendering"
    ),
    Scenario(
        "poll",
        "worker.bench.poll:poll_rows",
        "ClinicalTrials.gov pages from a fake registry vs plain GET + parse; publish + ingest",
    ),
    Scenario(
        "admin-search",
        "worker.bench.admin_search:admin_search_rows",
        "console subscriber search on 1M subscriptions (PostgreSQL) vs the same without indexes",
    ),
    Scenario(
        "ses",
        "worker.bench.runner:ses_rows",
        "SES send path per CPU-second; pacing counted at the endpoint",
        own_processes=True,
    ),
    Scenario(
        "end-to-end",
        "worker.bench.end_to_end:end_to_end_rows",
        "daily digests through PostgreSQL + Redis or RabbitMQ + worker processes + local SES",
        own_processes=True,
    ),
    Scenario(
        "faults",
        "worker.bench.fault_runs:fault_rows",
        "digests through SIGKILLed workers and a flushed Redis, Send events late or never",
        own_processes=True,
    ),
)


def scenario_names() -> list[str]:
    return [scenario.name for scenario in SCENARIOS]


def rss_row(name: str, peak_mb: float) -> BenchRow:
    return BenchRow(f"{name}: peak RSS", peak_mb, "MB", note="the scenario's process")


def run_scenario(
    scenario: Scenario, scale: Scale, progress: Callable[[str], None] = lambda _: None
) -> list[BenchRow]:
    """The scenario's rows; one row that did not run, with the error, if it raised."""
    try:
        run = scenario.rows_function()
        if scenario.own_processes:
            rows = run(scale)
        else:
            measured, peak = in_fresh_process(run, scale)
            rows = [*measured, rss_row(scenario.name, peak)]
    except Exception as error:  # noqa: BLE001 - any failure is this scenario's row, not the run's end
        progress(traceback.format_exc())
        return [not_run(scenario.name, error_reason(error))]
    return rows or [not_run(scenario.name, "the scenario returned no rows")]


def run_bench(
    names: Iterable[str] = (),
    scale: Scale = "full",
    progress: Callable[[str], None] = lambda _: None,
) -> list[BenchRow]:
    """Rows of the named scenarios (all when none is named), in registry order."""
    wanted = set(names) or set(scenario_names())
    unknown = wanted - set(scenario_names())
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    rows: list[BenchRow] = []
    for scenario in SCENARIOS:
        if scenario.name in wanted:
            progress(f"{scenario.name}: {scenario.about} ...")
            start = perf_counter()
            rows += run_scenario(scenario, scale, progress)
            progress(f"{scenario.name}: done in {perf_counter() - start:.0f} s")
    return rows
