"""The `trialalerts` command.  Commands parse arguments and call one service each.

Exit codes: 0 ok, 1 some input rejected (and reported), 2 usage or configuration error.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from worker.cli.common import RowId, When, echo, runtime_for

# Commands that are the Procfile's process types log at info: their lines are the operations log.
PROCESS_TYPES = {"worker": "worker", "scheduler": "scheduler", "poll": "poller", "web": "web"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Trialalerts: clinical-trial registry alerts and email digests."""
    from worker.core.config import load_settings
    from worker.core.logs import configure as configure_logging

    process = PROCESS_TYPES.get(ctx.invoked_subcommand or "", "cli")
    configure_logging(process, logging.INFO if verbose or process != "cli" else logging.WARNING)
    ctx.obj = {"settings": load_settings()}


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the schema; re-point criteria made by older matching rules."""
    from worker.cli.match import recompute
    from worker.core.migrate import upgrade
    from worker.core.runtime import Runtime

    runtime = Runtime(ctx.obj["settings"])
    upgrade(runtime.engine)
    echo(f"schema up to date ({runtime.engine.url.render_as_string(hide_password=True)})")
    recompute(runtime)  # criteria made by older matching rules


@cli.command()
@click.argument("source", type=click.File("rb"))
@click.pass_context
def publish(ctx: click.Context, source: Any) -> None:
    """Publish CloudEvents from FILE (or - for stdin): one JSON event, a JSON array, or JSONL."""
    from worker.queue.pipeline import publish_stream

    runtime = runtime_for(ctx)
    origin = "stdin" if source.name == "<stdin>" else f"file {Path(source.name).name}"
    report = publish_stream(source, origin, runtime)
    for rejection in report.rejections:
        echo(f"rejected {rejection.describe()}", err=True)
    echo(
        f"{report.accepted} accepted, {report.duplicates} duplicate, "
        f"{len(report.rejections)} rejected"
    )
    if runtime.settings.is_embedded and report.accepted:
        echo("in-process broker: `trialalerts run --until-idle` processes them")
    ctx.exit(1 if report.rejections else 0)


@cli.command()
@click.option(
    "--until-idle", is_flag=True, required=True, help="Drain all work in this process, then exit."
)
@click.option("--now", type=When(), help="The clock for the whole run (default: now).")
@click.pass_context
def run(ctx: click.Context, until_idle: bool, now: datetime | None) -> None:
    """Process everything pending in-process (ingest, …) and exit."""
    from worker.queue.runner import run_until_idle

    report = run_until_idle(runtime_for(ctx, now))
    for line in report.summary_lines():
        echo(line)
    ctx.exit(1 if report.failures else 0)


@cli.command()
@click.option(
    "--preview",
    "preview_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="preview.html",
    show_default=True,
    help="Where to write an HTML preview.",
)
@click.pass_context
def demo(ctx: click.Context, preview_path: Path) -> None:
    """Run the whole pipeline on embedded defaults with bundled sample data."""
    from worker.cli.demo import DemoNeedsEmptyDatabase, run_demo

    try:
        report = run_demo(runtime_for(ctx), preview_path)
    except DemoNeedsEmptyDatabase as error:
        raise click.UsageError(str(error)) from None
    for line in report.lines():
        echo(line)


@cli.group()
def digests() -> None:
    """Digest emails."""


@digests.command("preview")
@click.argument("email")
@click.option("--now", type=When(), help="The moment to preview at (default: now).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML of the (first) digest to this file.",
)
@click.pass_context
def digests_preview(
    ctx: click.Context, email: str, now: datetime | None, html_path: Path | None
) -> None:
    """Print the text digest(s) EMAIL would get now; nothing is sent or marked."""
    from worker.digests.preview import preview_digests

    runtime = runtime_for(ctx, now)
    with runtime.sessions() as session:
        previews = preview_digests(session, runtime.settings, email, runtime.now())
    if previews is None:
        echo(f"no subscriber {email}", err=True)
        ctx.exit(1)
    if not previews:
        echo(f"nothing pending for {email}: no digest would go out", err=True)
        return
    for preview in previews:
        when = "due now" if preview.due_now else f"next at {preview.next_send:%Y-%m-%d %H:%M} UTC"
        echo(f"=== {preview.frequency} digest ({when})")
        echo(f"Subject: {preview.email.subject}\n")
        echo(preview.email.text)
    if html_path:
        html_path.write_text(previews[0].email.html, encoding="utf-8")
        echo(f"HTML written to {html_path}", err=True)


@cli.group()
def deadletters() -> None:
    """Rejected input kept with its reason."""


@deadletters.command("list")
@click.option("--all", "include_replayed", is_flag=True, help="Include replayed ones.")
@click.pass_context
def deadletters_list(ctx: click.Context, include_replayed: bool) -> None:
    """List dead letters: id, when, origin, line, event id, reason."""
    from worker.ingest.deadletters import list_dead_letters

    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        letters = list_dead_letters(session, include_replayed)
    for letter in letters:
        where = f"line {letter.line}" if letter.line else "-"
        replayed = (
            f"  replayed {letter.replayed_at:%Y-%m-%dT%H:%M:%SZ}" if letter.replayed_at else ""
        )
        echo(
            f"{letter.id}\t{letter.created_at:%Y-%m-%dT%H:%M:%SZ}\t{letter.origin}\t{where}\t"
            f"{letter.event_id or '-'}\t{letter.reason}{replayed}"
        )
    if not letters:
        echo("no dead letters", err=True)


@deadletters.command("replay")
@click.argument("letter_id", required=False, type=RowId())
@click.pass_context
def deadletters_replay(ctx: click.Context, letter_id: int | None) -> None:
    """Publish dead letters again (all not yet replayed, or the one with ID)."""
    from worker.queue.pipeline import replay

    accepted, still_bad = replay(letter_id, runtime_for(ctx))
    for pk, reason in still_bad:
        echo(f"dead letter {pk} still rejected: {reason}", err=True)
    echo(f"{accepted} replayed, {len(still_bad)} still rejected")
    ctx.exit(1 if still_bad else 0)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("dramatiq_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def worker(ctx: click.Context, dramatiq_args: tuple[str, ...]) -> None:
    """Run dramatiq worker processes (extra arguments go to the dramatiq CLI)."""
    from worker.core.metrics_folder import prepare_metrics_folder

    if ctx.obj["settings"].is_embedded:
        raise click.UsageError(
            "TRIALALERTS_BROKER_URL is not set: use `trialalerts run --until-idle`"
        )
    settings = ctx.obj["settings"]
    if settings.metrics_port:
        # This process becomes the dramatiq master: the folder is emptied before any
        # worker process writes, and the metrics server (a fork of it) reads these at start.
        folder = str(prepare_metrics_folder(settings.metrics_dir))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["dramatiq_prom_db"] = folder  # noqa: SIM112
        os.environ.setdefault("dramatiq_prom_port", str(settings.metrics_port))
        os.environ.setdefault("dramatiq_prom_host", "127.0.0.1")
    args = [sys.executable, "-m", "worker.queue.worker_main", "worker.queue.tasks",
            "--skip-logging", *dramatiq_args]  # fmt: skip
    os.execv(sys.executable, args)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def web(ctx: click.Context, gunicorn_args: tuple[str, ...]) -> None:
    """Serve the web app (worker.web:app) with gunicorn; extra arguments go to gunicorn."""
    from worker.core.config import ensure_secret_key

    settings = ctx.obj["settings"]  # checked already: a configuration error is exit 2
    if settings.email_backend == "file":
        ensure_secret_key(settings)  # one key file, made before the workers read it
    # JSON lines for gunicorn's error and access logs too (access log on stdout by default).
    logger = ["--logger-class", "worker.web.gunicorn_log.JsonLogger", "--access-logfile", "-"]
    hooks = ["--config", "python:worker.web.gunicorn_hooks"]  # the gazetteer read at start
    args = [sys.executable, "-m", "gunicorn", *hooks, *logger, *gunicorn_args, "worker.web:app"]
    os.execv(sys.executable, args)


@cli.command()
@click.option(
    "--interval", type=float, default=15.0, show_default=True, help="Seconds between ticks."
)
@click.pass_context
def scheduler(ctx: click.Context, interval: float) -> None:
    """Periodic ticks: due digests and the reconciler. Safe to run twice."""
    from worker.queue.scheduler import serve

    serve(runtime_for(ctx), interval)


def _register_groups() -> None:
    from worker.cli.admin import admin
    from worker.cli.bench import bench
    from worker.cli.match import match
    from worker.cli.poll import poll
    from worker.cli.subscribers import subscribers
    from worker.cli.suppressions import suppressions

    for command in (subscribers, suppressions, bench, poll, match, admin):
        cli.add_command(command)


_register_groups()


def main() -> None:
    from worker.core.config import ConfigError

    try:
        cli(prog_name="trialalerts")
    except ConfigError as error:
        echo(f"configuration error: {error}", err=True)
        sys.exit(2)
