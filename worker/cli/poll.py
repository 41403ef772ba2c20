"""`trialalerts poll`: ClinicalTrials.gov → events (the `poller` process type without --once)."""

from __future__ import annotations

import os
import signal
import threading
from datetime import date, datetime
from typing import Any

import click

from worker.cli.common import echo, runtime_for


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM / SIGINT end the poll after the page being stored; the cursor stays consistent."""
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())


def _serve_metrics(port: int) -> None:
    """The poller's own /metrics, on the address the worker processes use (dramatiq_prom_host)."""
    if port:
        import prometheus_client

        host = os.environ.get("dramatiq_prom_host", "127.0.0.1")  # noqa: SIM112 - dramatiq's name
        prometheus_client.start_http_server(port, host)


@click.command()
@click.option("--once", is_flag=True, help="Poll until caught up, print a summary and exit.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Start a fresh cursor at this day (YYYY-MM-DD): studies updated since then.",
)
@click.pass_context
def poll(ctx: click.Context, once: bool, since: datetime | None) -> None:
    """Poll ClinicalTrials.gov and publish each new or changed study as an event.

    Safe to run twice: one poller at a time holds the cursor, the other waits.
    """
    from tqdm import tqdm

    from worker.registry.client import RegistryError
    from worker.registry.cursor import LeaseLost
    from worker.registry.poll import Poller, Stopped

    runtime = runtime_for(ctx)
    stop = threading.Event()
    _stop_on_signals(stop)
    start: date | None = since.date() if since else None
    if not once:
        _serve_metrics(runtime.settings.ctgov.metrics_port)
        poller = Poller(runtime, stop=stop)
        try:
            poller.serve(start)
        finally:
            poller.close()
        return
    with tqdm(unit=" studies", disable=None, leave=False) as bar:
        poller = Poller(runtime, progress=bar.update, stop=stop)
        try:
            report: Any = poller.poll(start)
        except (RegistryError, LeaseLost, Stopped) as error:
            bar.close()
            echo(f"poll stopped: {error or type(error).__name__}", err=True)
            echo(poller.last_report.summary())
            ctx.exit(1)
        finally:
            poller.close()
    if report is None:
        echo("poll stopped before it could start", err=True)
        ctx.exit(1)
    echo(report.summary())
    if runtime.settings.is_embedded and report.accepted:
        echo("in-process broker: `trialalerts run --until-idle` processes them")
    ctx.exit(1 if report.rejected else 0)
