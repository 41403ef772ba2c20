"""`trialalerts subscribers …`: admin import, export, list and remove of subscriptions.

Exit codes as everywhere: 0 ok, 1 some input rejected (each bad row reported
as `line N: reason` on stderr) or an unknown subscriber, 2 a file that cannot
be read at all or a usage error.  Imports (not dry runs) and removals go to
the audit log.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NoReturn, TextIO, TypeVar

import click

from worker.cli.common import cli_actor, echo, runtime_for

# Files shorter than this import in a blink: no progress bar.
PROGRESS_MIN_LINES = 20_000

T = TypeVar("T")


class EmailAddress(click.ParamType):
    """An address normalized the way imports store it (lower-case)."""

    name = "EMAIL"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        from worker.subscriptions.rows import normalize_email

        try:
            return normalize_email(str(value))
        except ValueError as exc:
            self.fail(f"{value!r} is not an email address: {exc}", param, ctx)


@click.group()
def subscribers() -> None:
    """Admin subscription lists (CSV or JSONL, one subscription a row)."""


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and count everything, write nothing.")
@click.pass_context
def import_command(ctx: click.Context, file: Path, dry_run: bool) -> None:
    """Import subscriptions from FILE (.csv, .jsonl or .ndjson).

    \b
    Columns: email, kind, condition, nct_id, frequency, statuses, countries,
    near (lat,lon,km or PLACE;KM: "Milan, Italy;50", "10001;80"), timezone,
    and for condition alerts age, sex, healthy_volunteers, phases, study_types.
    Only email and kind are required; a bad value rejects its line only.
    """
    from worker.core.audit import record_audit
    from worker.subscriptions.files import ImportFileError, read_subscription_file
    from worker.subscriptions.lists import import_subscriptions

    try:
        items = read_subscription_file(file)
    except ImportFileError as error:
        _fail(ctx, str(error))
    runtime = runtime_for(ctx)
    try:
        with runtime.sessions() as session, session.begin():
            report = import_subscriptions(
                session,
                _with_progress(items, file),
                runtime.now(),
                dry_run=dry_run,
                send_hour=runtime.settings.send_hour,
            )
            if not dry_run:
                counts = {
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "rejected": len(report.rejected),
                }
                target = f"file {file.name}"
                now = runtime.now()
                record_audit(session, cli_actor(), "import.applied", target, after=counts, now=now)
    except ImportFileError as error:
        _fail(ctx, str(error))
    for rejection in sorted(report.rejected, key=lambda error: error.line):
        echo(f"line {rejection.line}: {rejection.reason}", err=True)
    echo(report.summary())
    ctx.exit(1 if report.rejected else 0)


@subscribers.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Default: from the -o file's extension, else csv.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout."
)
@click.pass_context
def export_command(ctx: click.Context, fmt: str | None, output: Path | None) -> None:
    """Export active subscriptions for import.

    The output is in the form `import` reads back: importing it changes nothing.
    """
    from worker.subscriptions.files import FILE_FORMATS, write_subscription_file
    from worker.subscriptions.lists import export_subscriptions

    if fmt is None:
        fmt = FILE_FORMATS.get(output.suffix.lower(), "csv") if output else "csv"
    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        rows = export_subscriptions(session)
        if output is None:
            count = write_subscription_file(rows, sys.stdout, fmt)
        else:
            try:
                count = _write_atomically(
                    output, lambda out: write_subscription_file(rows, out, fmt)
                )
            except OSError as error:
                _fail(ctx, f"{output}: cannot write: {error.strerror or error}")
    where = f" to {output}" if output else ""
    echo(f"{count} subscriptions exported{where}", err=True)


@subscribers.command("list")
@click.option("--email", type=EmailAddress(), help="Only this subscriber's subscriptions.")
@click.pass_context
def list_command(ctx: click.Context, email: str | None) -> None:
    """List subscriptions, one line each.

    Tab-separated: email, kind, condition or NCT id, frequency, filters,
    timezone, state (active or inactive, confirmed or unconfirmed).
    """
    from worker.subscriptions.lists import list_subscriptions, subscriber_exists

    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        if email is not None and not subscriber_exists(session, email):
            echo(f"no subscriber {email}", err=True)
            ctx.exit(1)
        count = 0
        for listed in list_subscriptions(session, email):
            echo(listed.line())
            count += 1
    if not count:
        echo("no subscriptions", err=True)


@subscribers.command("remove")
@click.argument("email", type=EmailAddress())
@click.pass_context
def remove_command(ctx: click.Context, email: str) -> None:
    """Delete a subscriber with all subscriptions.

    Their pending notifications and deliveries go too; shared criteria stay.
    """
    from worker.core.audit import record_audit
    from worker.subscriptions.lists import UnknownSubscriber, remove_subscriber

    runtime = runtime_for(ctx)
    try:
        with runtime.sessions() as session, session.begin():
            count = remove_subscriber(session, email)
            before = {"email": email, "subscriptions": count}
            now = runtime.now()
            record_audit(session, cli_actor(), "subscriber.remove", email, before=before, now=now)
    except UnknownSubscriber as error:
        echo(str(error), err=True)
        ctx.exit(1)
    echo(f"removed {email} and {count} subscription{'' if count == 1 else 's'}")


def _fail(ctx: click.Context, message: str) -> NoReturn:
    echo(f"error: {message}", err=True)
    ctx.exit(2)


def _with_progress(items: Iterable[tuple[int, T]], path: Path) -> Iterator[tuple[int, T]]:
    """Pass items through, advancing a bar on stderr by line (big files on a terminal only)."""
    total = _count_lines(path) if sys.stderr.isatty() else 0
    if total < PROGRESS_MIN_LINES:
        yield from items
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="line", unit_scale=True, file=sys.stderr, leave=False) as bar:
        for item in items:
            bar.update(item[0] - bar.n)
            yield item


def _count_lines(path: Path) -> int:
    """Newlines in the file, read in 1 MiB chunks: cheap next to parsing them."""
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _write_atomically(path: Path, write: Callable[[TextIO], int]) -> int:
    """Write to a temporary file beside `path`, then rename: no half-written export.

    Something there that is no regular file (/dev/stdout, a pipe, a device) is
    written to directly: renaming over it would replace it with a file.
    """
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8", newline="") as out:
            return write(out)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as out:
            count = write(out)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return count
