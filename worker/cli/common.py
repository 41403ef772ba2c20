"""What every command group shares: the --now type, the command's runtime, its audit actor.

The `trialalerts` modules import only click and small pure helpers at the top;
each command imports what it needs when it runs, so `trialalerts --help` and each command
start without loading the database layer or the stages they do not use.
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from worker.core.ids import parse_id
from worker.core.quoting import terminal_safe

if TYPE_CHECKING:
    from worker.core.runtime import Runtime


def echo(text: str = "", *, err: bool = False) -> None:
    """click.echo for lines that may carry stored text: nothing in it can drive the terminal."""
    click.echo(terminal_safe(text), err=err)


class When(click.ParamType):
    """An ISO 8601 instant; naive values are taken as UTC."""

    name = "ISO8601"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time", param, ctx)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class RowId(click.ParamType):
    """A row id as `worker.core.ids` reads it: ASCII digits, within range."""

    name = "ID"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        parsed = parse_id(str(value))
        if parsed is None:
            self.fail(f"{value!r} is not an id (a whole number from 1)", param, ctx)
        return parsed


def runtime_for(ctx: click.Context, now: datetime | None = None) -> Runtime:
    """Build the runtime once per command; SQLite (embedded) schemas upgrade themselves."""
    from worker.core.config import ensure_secret_key
    from worker.core.migrate import upgrade
    from worker.core.runtime import Runtime, fixed_clock, set_runtime

    settings = ctx.obj["settings"]
    if settings.email_backend == "file":
        settings = ensure_secret_key(settings)
    runtime = Runtime(settings, fixed_clock(now)) if now else Runtime(settings)
    set_runtime(runtime)
    if runtime.engine.dialect.name == "sqlite":
        upgrade(runtime.engine)
    return runtime


def cli_actor() -> str:
    """Who ran the command, as the audit log names them: "cli:<os user>"."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"
