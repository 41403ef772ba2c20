"""The benchmark registry, and running scenarios into one table of rows.

A scenario is a function `(scale) -> list[BenchRow]` importable by name.  The
runner starts each in a fresh process and adds a row with that process's peak
RSS, unless the scenario starts its own processes and reports their memory
itself (matching does, one process per list size).  To add a scenario, write
its module under worker/bench/ and add it to SCENARIOS.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import orjson

from worker.bench.digests import digest_rows
from worker.bench.end_to_end import end_to_end_rows
from worker.bench.faults import fault_rows
from worker.bench.ingest import ingest_rows
from worker.bench.matching import matching_rows
from worker.bench.matching_quality import quality_rows
from worker.bench.poll import poll_rows
from worker.bench.rows import BenchRow
from worker.bench.rss import in_fresh_process
from worker.bench.scale import Scale


def ses_rows(scale: Scale) -> list[BenchRow]:
    """SES sends/s and pacing accuracy, from worker.bench.send when it is there."""
    try:
        from worker.bench.send import bench_send
    except ImportError as error:
        return [
            BenchRow(
                "ses sends", 0.0, "sends/s", None, "",
                note=f"unavailable: worker.bench.send.bench_send cannot be imported ({error})",
            )
        ]  # fmt: skip
    rows, peak = in_fresh_process(bench_send, scale != "full")
    return [*rows, rss_row("ses", peak)]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Scale], list[BenchRow]]
    about: str
    own_processes: bool = False  # starts its processes itself and reports their peak RSS


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ingest", ingest_rows, "publish + ingest of real records, SQLite and PostgreSQL"),
    Scenario(
        "matching",
        matching_rows,
        "condition matching at 10k/100k/1M subscriptions, notification writes vs COPY",
        own_processes=True,
    ),
    Scenario(
        "matching-quality",
        quality_rows,
        "precision and recall of condition matching on labelled pairs of real records",
    ),
    Scenario("digests", digest_rows, "send-ready digests vs bare Jinja2 rendering"),
    Scenario(
        "poll",
        poll_rows,
        "ClinicalTrials.gov pages from a fake registry vs plain GET + parse; publish + ingest",
    ),
    Scenario("ses", ses_rows, "SES sends/s and pacing accuracy", own_processes=True),
    Scenario(
        "end-to-end",
        end_to_end_rows,
        "daily digests through Redis + PostgreSQL + worker processes + a local SES endpoint",
        own_processes=True,
    ),
    Scenario(
        "faults",
        fault_rows,
        "digests delivered once through SIGKILLed workers and a flushed Redis",
        own_processes=True,
    ),
)


def scenario_names() -> list[str]:
    return [scenario.name for scenario in SCENARIOS]


def rss_row(name: str, peak_mb: float) -> BenchRow:
    return BenchRow(f"{name}: peak RSS", peak_mb, "MB", None, "", "", "the scenario's process")


def run_scenario(scenario: Scenario, scale: Scale) -> list[BenchRow]:
    if scenario.own_processes:
        return scenario.run(scale)
    rows, peak = in_fresh_process(scenario.run, scale)
    return [*rows, rss_row(scenario.name, peak)]


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
            rows += run_scenario(scenario, scale)
            progress(f"{scenario.name}: done in {perf_counter() - start:.0f} s")
    return rows


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def format_table(rows: Sequence[BenchRow]) -> str:
    """Aligned columns; each row's note becomes a numbered footnote below the table."""
    header = ("scenario", "figure", "unit", "anchor", "anchor name", "ratio", "target")
    cells = []
    notes: dict[str, int] = {}  # note -> its number; rows sharing a note share the number
    for row in rows:
        name = row.scenario
        if row.note:
            name += f" [{notes.setdefault(row.note, len(notes) + 1)}]"
        ratio = None if row.ratio is None else f"{row.ratio:.2f}"
        target = row.target + {True: " (met)", False: " (NOT met)", None: ""}[row.met]
        cells.append(
            (name, _number(row.figure), row.unit, _number(row.anchor), row.anchor_name,
             ratio or "-", target)
        )  # fmt: skip
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    right = {1, 3, 5}

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if i in right else value.ljust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    lines = [line(header), line(["-" * width for width in widths]), *map(line, cells)]
    if notes:
        lines.append("")
        lines += [f"[{number}] {note}" for note, number in notes.items()]
    return "\n".join(lines)


def bench_document(rows: Sequence[BenchRow], scale: Scale, started: datetime) -> dict[str, Any]:
    """The JSON written by --json: where and when it ran, then the rows."""
    return {
        "scale": scale,
        "started": started.astimezone(UTC).isoformat(),
        "host": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "rows": [row.as_dict() for row in rows],
    }


def write_json(path: Path, rows: Sequence[BenchRow], scale: Scale, started: datetime) -> None:
    document = bench_document(rows, scale, started)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
