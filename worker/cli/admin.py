"""`trialalerts admin …`: console accounts and the audit log.

Exit codes as everywhere: 0 ok, 1 refused (a weak password, an account that
exists already or not at all), 2 usage (an argument that is not an email
address, an unreadable --since).  Changes are written to the audit log with
the actor "cli:<os user>".
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

import click

from worker.cli.common import When, cli_actor, echo, runtime_for
from worker.cli.subscribers import EmailAddress


@click.group()
def admin() -> None:
    """Admin console accounts and the audit log."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:  # bytes, so that a line that is not UTF-8 is refused with a reason
        line = sys.stdin.buffer.readline().decode("utf-8", "surrogateescape")
        return line.removesuffix("\n").removesuffix("\r")
    password: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return password


@admin.command("add-user")
@click.argument("email", type=EmailAddress())
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.pass_context
def add_user(ctx: click.Context, email: str, password_stdin: bool) -> None:
    """Create a console account for EMAIL (password prompted twice, at least 12 characters).

    To change a password, remove the account and add it again.
    """
    from worker.web.admin.accounts import AccountError, add_admin
    from worker.web.admin.passwords import passwords_of

    password = _read_password(password_stdin)
    runtime = runtime_for(ctx)
    try:
        with runtime.sessions() as session, session.begin():
            add_admin(session, passwords_of(runtime), email, password, cli_actor(), runtime.now())
    except AccountError as error:
        echo(f"not added: {error}", err=True)
        ctx.exit(1)
    echo(f"admin {email} added")


@admin.command("remove-user")
@click.argument("email", type=EmailAddress())
@click.pass_context
def remove_user(ctx: click.Context, email: str) -> None:
    """Delete the console account of EMAIL; its open sessions end at once."""
    from worker.web.admin.accounts import AccountError, remove_admin

    runtime = runtime_for(ctx)
    try:
        with runtime.sessions() as session, session.begin():
            remove_admin(session, email, cli_actor(), runtime.now())
    except AccountError as error:
        echo(str(error), err=True)
        ctx.exit(1)
    echo(f"admin {email} removed")


@admin.command("list-users")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """One line an account: email, created (UTC), last login (UTC or -)."""
    from worker.web.admin.accounts import list_admins

    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        accounts = list_admins(session)
    for account in accounts:
        last = f"{account.last_login_at:%Y-%m-%dT%H:%M:%SZ}" if account.last_login_at else "-"
        echo(f"{account.email}\t{account.created_at:%Y-%m-%dT%H:%M:%SZ}\t{last}")
    if not accounts:
        echo("no admin accounts: add one with `trialalerts admin add-user EMAIL`", err=True)


def _write_audit(session: object, since: datetime | None, out: TextIO) -> int:
    from sqlalchemy import select

    from worker.core.models import AuditEntry

    query = select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    written = 0
    for entry in session.scalars(query.execution_options(yield_per=1000)):  # type: ignore[attr-defined]
        line = {
            "id": entry.id,
            "at": entry.at.isoformat().replace("+00:00", "Z"),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "before": entry.before,
            "after": entry.after,
        }
        out.write(json.dumps(line, sort_keys=True) + "\n")
        written += 1
    return written


@admin.command("audit")
@click.option("--since", type=When(), help="Only entries at or after this instant (ISO 8601).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: stdout).",
)
@click.pass_context
def audit(ctx: click.Context, since: datetime | None, output: Path | None) -> None:
    """Export the audit log as JSON lines, oldest first.

    Each line: id, at, actor, action, target, before, after.
    """
    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        if output is None:
            _write_audit(session, since, sys.stdout)
            return
        with output.open("w", encoding="utf-8") as out:
            written = _write_audit(session, since, out)
    echo(f"{written} audit entries written to {output}", err=True)
