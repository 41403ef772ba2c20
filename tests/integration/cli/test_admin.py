"""`trialalerts admin add-user | remove-user | list-users | audit`, as admins run them."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from tests.integration.cli.test_cli import trialalerts
from worker.cli.main import cli
from worker.core.db import make_engine
from worker.core.models import AdminUser, AuditEntry

PASSWORD = "correct horse battery staple"


def _admin(
    *args: str, cwd: Path, database_url: str, stdin: str | None = None
) -> tuple[int, str, str]:
    env = {"TRIALALERTS_DATABASE_URL": database_url}
    done = trialalerts("admin", *args, cwd=cwd, env=env, stdin=stdin)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def test_accounts_are_added_listed_removed_and_audited(database_url: str, tmp_path: Path) -> None:
    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        return _admin(*args, cwd=tmp_path, database_url=database_url, stdin=stdin)

    added = run("add-user", "Root@Example.ORG", "--password-stdin", stdin=PASSWORD + "\n")
    assert added == (0, "admin root@example.org added", "")
    code, out, _ = run("list-users")
    [line] = out.splitlines()
    email, created, last_login = line.split("\t")
    assert (email, last_login) == ("root@example.org", "-") and created.endswith("Z")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(select(AdminUser.password_hash)).scalar_one()
    engine.dispose()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    assert run("remove-user", "ROOT@example.org") == (0, "admin root@example.org removed", "")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        actions = connection.execute(
            select(AuditEntry.action, AuditEntry.at).order_by(AuditEntry.id)
        ).all()
    engine.dispose()
    assert [action for action, _ in actions] == ["admin_user.add", "admin_user.remove"]

    since = actions[1].at.isoformat()  # only the removal
    code, _, err = run("audit", "--since", since, "-o", str(tmp_path / "audit.jsonl"))
    assert code == 0 and "1 audit entries written" in err
    [line] = (tmp_path / "audit.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry.pop("at") == since.replace("+00:00", "Z") and entry.pop("id") > 0
    assert entry == {
        "actor": f"cli:{getpass.getuser()}",
        "action": "admin_user.remove",
        "target": "root@example.org",
        "before": {"email": "root@example.org", "created_at": entry["before"]["created_at"]},
        "after": None,
    }


def _invoke(tmp_path: Path, *args: str, stdin: str) -> tuple[int, str]:
    env = {"TRIALALERTS_DATABASE_URL": f"sqlite:///{tmp_path / 'admin.db'}"}
    done = CliRunner().invoke(cli, ["admin", *args], input=stdin, env=env)
    return done.exit_code, done.output


def test_refusals_exit_1_and_usage_errors_2(tmp_path: Path) -> None:
    add = ("add-user", "--password-stdin")
    assert _invoke(tmp_path, *add, "root@example.org", stdin=PASSWORD)[0] == 0
    code, output = _invoke(tmp_path, *add, "root@example.org", stdin=PASSWORD)
    assert code == 1 and "already an admin" in output
    code, output = _invoke(tmp_path, *add, "weak@example.org", stdin="password\n")
    assert code == 1 and "shorter than 12 characters" in output
    code, output = _invoke(tmp_path, *add, "not an address", stdin=PASSWORD)
    assert code == 2 and "not an email address" in output
    code, output = _invoke(tmp_path, "remove-user", "nobody@example.org", stdin="")
    assert code == 1 and "is not an admin" in output
    assert _invoke(tmp_path, "audit", "--since", "yesterday", stdin="")[0] == 2
    code, output = _invoke(tmp_path, "list-users", stdin="")
    assert code == 0 and output.startswith("root@example.org\t")
    code, output = _invoke(tmp_path, "audit", stdin="")
    entries = [json.loads(line) for line in output.splitlines()]
    assert code == 0 and [entry["action"] for entry in entries] == ["admin_user.add"]


def test_a_password_from_stdin_loses_its_line_end_only_and_must_be_text(tmp_path: Path) -> None:
    env = {"TRIALALERTS_DATABASE_URL": f"sqlite:///{tmp_path / 'admin.db'}"}

    def add(email: str, stdin: bytes) -> tuple[int, str]:
        done = CliRunner().invoke(
            cli, ["admin", "add-user", email, "--password-stdin"], input=stdin, env=env
        )
        return done.exit_code, done.output

    assert add("crlf@example.org", PASSWORD.encode() + b"\r\n") == (
        0,
        "admin crlf@example.org added\n",
    )
    code, output = add("latin1@example.org", "correct hörse battery\n".encode("latin-1"))
    assert code == 1 and "not added: the password is not UTF-8 text" in output
    code, output = add("twocr@example.org", PASSWORD.encode() + b"\r\r\n")
    assert code == 1 and "control character" in output
    code, output = add("nul@example.org", b"correct\x00horse battery\n")
    assert code == 1 and "control character" in output


def test_the_password_is_asked_twice(tmp_path: Path) -> None:
    env = {"TRIALALERTS_DATABASE_URL": f"sqlite:///{tmp_path / 'admin.db'}"}
    runner = CliRunner()
    differ = runner.invoke(
        cli,
        ["admin", "add-user", "ada@example.org"],
        input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n",
        env=env,
    )
    assert differ.exit_code == 0, differ.output
    assert differ.output.count("Repeat the password") == 2
    assert "admin ada@example.org added" in differ.output
    empty = runner.invoke(cli, ["admin", "add-user", "bo@example.org"], input="   \n   \n", env=env)
    assert empty.exit_code == 1 and "the password is empty" in empty.output


def test_admin_changes_made_with_other_commands_are_audited(tmp_path: Path) -> None:
    env = {"TRIALALERTS_DATABASE_URL": f"sqlite:///{tmp_path / 'admin.db'}"}
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(cli, list(args), env=env)
        assert done.exit_code == 0, done.output
        return done.output

    rows = tmp_path / "rows.csv"
    rows.write_text("email,kind,condition\nada@example.org,condition,melanoma\n")
    run("subscribers", "import", str(rows), "--dry-run")  # changes nothing: not audited
    run("subscribers", "import", str(rows))
    run("suppressions", "add", "eve@example.org", "--reason", "asked by phone")
    run("suppressions", "add", "eve@example.org")  # already suppressed: nothing changes
    run("suppressions", "remove", "eve@example.org")
    run("subscribers", "remove", "ada@example.org")
    entries = [json.loads(line) for line in run("admin", "audit").splitlines()]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("import.applied", "file rows.csv"),
        ("suppression.add", "eve@example.org"),
        ("suppression.remove", "eve@example.org"),
        ("subscriber.remove", "ada@example.org"),
    ]
    assert {e["actor"] for e in entries} == {f"cli:{getpass.getuser()}"}
    assert entries[0]["after"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    assert entries[2]["before"]["reason"] == "asked by phone"
    assert entries[3]["before"] == {"email": "ada@example.org", "subscriptions": 1}
