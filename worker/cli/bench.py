"""`trialalerts bench`: performance figures, each beside an anchor measured in the same run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

# The runner is light: it names the scenarios (for --only) and imports each one when it runs.
from worker.bench.runner import run_bench, scenario_names

if TYPE_CHECKING:
    from worker.bench.scale import Scale


@click.command()
@click.option("--quick", is_flag=True, help="A short run of every scenario (a few minutes).")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the rows to FILE as JSON.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    help=(
        "Also write the table as Markdown, with the date, the machine and its speed, "
        "to FILE (- for stdout)."
    ),
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(scenario_names()),
    help="Run only this scenario (repeatable).",
)
@click.option("--check", is_flag=True, help="Exit 1 when a row misses its target or could not run.")
def bench(
    quick: bool,
    json_path: Path | None,
    markdown_path: Path | None,
    only: tuple[str, ...],
    check: bool,
) -> None:
    """Measure ingest, matching, digests and sending; print one table.

    PostgreSQL scenarios create and drop their own databases through the admin
    connection TRIALALERTS_BENCH_POSTGRES_URL (default: postgres on 127.0.0.1).
    A scenario that cannot run (a service down, an error) is a row marked
    "not run" with the reason.
    """
    from worker.bench.report import format_markdown, format_table, machine, write_json
    from worker.bench.yardstick import loop_seconds, speed

    scale: Scale = "quick" if quick else "full"
    started = datetime.now(UTC)
    before = loop_seconds()
    rows = run_bench(only, scale, progress=lambda line: click.echo(line, err=True))
    host = {**machine(), "speed": speed(before, loop_seconds())}
    click.echo(format_table(rows, scale))
    if json_path is not None:
        write_json(json_path, rows, scale, started, host)
        click.echo(f"rows written to {json_path}", err=True)
    if markdown_path is not None:
        markdown = format_markdown(rows, scale, started, host)
        if str(markdown_path) == "-":
            click.echo(markdown)
        else:
            markdown_path.write_text(markdown)
            click.echo(f"Markdown table written to {markdown_path}", err=True)
    missed = [row.scenario for row in rows if row.met is False]
    if check and missed:
        click.echo(f"targets not met or not run: {'; '.join(missed)}", err=True)
        raise SystemExit(1)
