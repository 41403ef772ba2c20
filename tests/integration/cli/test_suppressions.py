"""`trialalerts suppressions list | add | remove`, run as users run it, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

from tests.integration.cli.test_cli import trialalerts
from tests.integration.pipeline_helpers import subscribe
from worker.core.models import Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.subscriptions.suppressions import (
    add_suppression,
    list_suppressions,
    remove_suppression,
)

NOW = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)


def _suppressions(*args: str, cwd: Path, database_url: str | None = None) -> tuple[int, str, str]:
    env = {"TRIALALERTS_DATABASE_URL": database_url} if database_url else {}
    done = trialalerts("suppressions", *args, cwd=cwd, env=env)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def test_add_list_and_remove_an_address(database_url: str, tmp_path: Path) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        return _suppressions(*args, cwd=tmp_path, database_url=database_url)

    assert run("add", "Ada@Example.ORG", "--reason", "asked by phone") == (
        0,
        "suppressed ada@example.org",
        "",
    )
    assert run("add", "ada@example.org")[1] == "ada@example.org was already suppressed"
    assert run("add", "bob@example.org")[0] == 0
    code, listed, _ = run("list")
    assert code == 0
    assert [line.split("\t")[0::2] for line in listed.splitlines()] == [
        ["ada@example.org", "asked by phone"],  # the first reason stays
        ["bob@example.org", "added by an admin"],
    ]
    assert run("remove", "ADA@example.org") == (0, "ada@example.org is no longer suppressed", "")
    assert run("remove", "ada@example.org") == (1, "", "ada@example.org is not suppressed")


def test_an_empty_list_and_an_invalid_address_on_embedded_defaults(tmp_path: Path) -> None:
    assert _suppressions("list", cwd=tmp_path) == (0, "", "no suppressed addresses")
    code, _, error = _suppressions("add", "not-an-address", cwd=tmp_path)
    assert code == 2 and "is not an email address" in error


def test_lifting_a_suppression_restarts_the_soft_bounce_count_but_not_stopped_subscriptions(
    runtime: Runtime,
) -> None:
    subscribe(runtime, [{"email": "ada@example.org", "kind": "study", "nct_id": "NCT04267848"}])
    with runtime.sessions() as session, session.begin():
        session.execute(text("UPDATE subscribers SET soft_bounces = 5"))
        session.execute(text("UPDATE subscriptions SET active = false"))
        assert add_suppression(session, "ada@example.org", "5 soft bounces in a row", NOW)
        assert not add_suppression(session, "ada@example.org", None, NOW)
    with runtime.sessions() as session, session.begin():
        assert [entry.email for entry in list_suppressions(session)] == ["ada@example.org"]
        assert remove_suppression(session, "ada@example.org")
        assert not remove_suppression(session, "ada@example.org")
    with runtime.sessions() as session:
        assert list_suppressions(session) == []
        assert session.scalar(select(Subscriber.soft_bounces)) == 0
        assert session.scalar(select(Subscription.active)) is False
