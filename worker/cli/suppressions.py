"""`trialalerts suppressions …`: the addresses never sent to again.

Exit codes as everywhere: 0 ok, 1 removing an address that is not suppressed,
2 an argument that is not an email address.  Changes go to the audit log.
"""

from __future__ import annotations

import click

from worker.cli.common import cli_actor, echo, runtime_for
from worker.cli.subscribers import EmailAddress

# worker.subscriptions.suppressions.ADMIN_REASON, spelled here so that the help
# loads no database code (tests/unit/cli/test_startup.py holds them equal).
ADMIN_REASON = "added by an admin"


@click.group()
def suppressions() -> None:
    """Suppressed addresses (hard bounces, complaints, repeated soft bounces, admin)."""


@suppressions.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """One line an address: email, since (UTC), reason."""
    from worker.subscriptions.suppressions import list_suppressions

    runtime = runtime_for(ctx)
    with runtime.sessions() as session:
        entries = list_suppressions(session)
    for entry in entries:
        echo(entry.line())
    if not entries:
        echo("no suppressed addresses", err=True)


@suppressions.command("add")
@click.argument("email", type=EmailAddress())
@click.option("--reason", default=ADMIN_REASON, show_default=True, help="Why (kept with it).")
@click.pass_context
def add_command(ctx: click.Context, email: str, reason: str) -> None:
    """Never send to EMAIL again (checked at send time). Adding it twice changes nothing."""
    from worker.core.audit import record_audit
    from worker.subscriptions.suppressions import add_suppression

    runtime = runtime_for(ctx)
    with runtime.sessions() as session, session.begin():
        added = add_suppression(session, email, reason, runtime.now())
        if added:
            after = {"email": email, "reason": reason}
            record_audit(
                session, cli_actor(), "suppression.add", email, after=after, now=runtime.now()
            )
    echo(f"suppressed {email}" if added else f"{email} was already suppressed")


@suppressions.command("remove")
@click.argument("email", type=EmailAddress())
@click.pass_context
def remove_command(ctx: click.Context, email: str) -> None:
    """Allow sending to EMAIL again. Subscriptions stopped by a complaint stay stopped."""
    from worker.core.audit import record_audit
    from worker.core.models import Suppression
    from worker.subscriptions.suppressions import remove_suppression

    runtime = runtime_for(ctx)
    with runtime.sessions() as session, session.begin():
        kept = session.get(Suppression, email)
        before = kept and {"email": email, "reason": kept.reason, "since": kept.created_at}
        removed = remove_suppression(session, email)
        if removed:
            now = runtime.now()
            record_audit(session, cli_actor(), "suppression.remove", email, before=before, now=now)
    if not removed:
        echo(f"{email} is not suppressed", err=True)
        ctx.exit(1)
    echo(f"{email} is no longer suppressed")
