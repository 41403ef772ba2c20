"""The bench's rows as a terminal table, as Markdown (for the README) and as JSON.

All three carry the same facts: each figure, its anchor and ratio, the
target as text and whether it was met; a row that could not run shows
"not run" and its reason, never a number.  The Markdown and the JSON also
say when and on what machine the run was made, and how fast that
machine ran plain Python before and after it (worker/bench/yardstick.py).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from worker.bench.rows import BenchRow
from worker.bench.scale import Scale
from worker.bench.yardstick import speed_note

VERDICTS = {True: "yes", False: "NO", None: "-"}
FULL_ONLY = "matching at 1M subscriptions runs in the full run only"


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _cells(row: BenchRow) -> tuple[str, ...]:
    shown = row.as_dict()  # non-finite numbers already None
    figure = "not run" if row.failure else number(shown["figure"])
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
    return (figure, row.unit, number(shown["anchor"]), row.anchor_name, ratio,
            shown["target"] or "", VERDICTS[row.met])  # fmt: skip


def _footnotes(rows: Sequence[BenchRow]) -> tuple[list[str], dict[str, int]]:
    """Each row's scenario with its footnote number; notes shared by rows share the number."""
    numbers: dict[str, int] = {}
    names = []
    for row in rows:
        text = f"not run: {row.failure}" if row.failure else row.note
        name = row.scenario
        if text:
            name += f" [{numbers.setdefault(text, len(numbers) + 1)}]"
        names.append(name)
    return names, numbers


def scale_remark(scale: Scale) -> str:
    return "" if scale == "full" else f"--{scale}: {FULL_ONLY}"


def format_table(rows: Sequence[BenchRow], scale: Scale = "full") -> str:
    """Aligned columns; each row's note (or why it did not run) becomes a numbered footnote."""
    header = ("scenario", "figure", "unit", "anchor", "anchor name", "ratio", "target", "met")
    names, notes = _footnotes(rows)
    cells = [(name, *_cells(row)) for name, row in zip(names, rows, strict=True)]
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
        lines += [f"[{n}] {note}" for note, n in notes.items()]
    if scale_remark(scale):
        lines += ["", scale_remark(scale)]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(
    rows: Sequence[BenchRow], scale: Scale, started: datetime, host: dict[str, Any]
) -> str:
    """The table as Markdown, headed by the command, the date, the machine and its speed."""
    command = "trialalerts bench" + ("" if scale == "full" else f" --{scale}")
    heading = (
        f"`{command}`, {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, on {host['cpu']}, "
        f"{host['cpus']} cores, Python {host['python']} ({host['platform']})"
    )
    if host.get("speed"):
        heading += f"; {speed_note(host['speed'])}"
    lines = [
        heading,
        "",
        "| scenario | figure | unit | anchor | anchor name | ratio | target | met |",
        "|---|---:|---|---:|---|---:|---|---|",
    ]
    names, notes = _footnotes(rows)
    for name, row in zip(names, rows, strict=True):
        lines.append("| " + " | ".join(_md(cell) for cell in (name, *_cells(row))) + " |")
    if notes:
        lines.append("")
        lines += [f"{n}. {_md(note)}" for note, n in notes.items()]
    if scale_remark(scale):
        lines += ["", _md(scale_remark(scale))]
    return "\n".join(lines) + "\n"


def bench_document(
    rows: Sequence[BenchRow], scale: Scale, started: datetime, host: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON written by --json: where and when it ran, then the rows."""
    return {
        "scale": scale,
        "started": started.astimezone(UTC).isoformat(),
        "host": host or machine(),
        "rows": [row.as_dict() for row in rows],
    }


def write_json(
    path: Path,
    rows: Sequence[BenchRow],
    scale: Scale,
    started: datetime,
    host: dict[str, Any] | None = None,
) -> None:
    document = bench_document(rows, scale, started, host)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
