"""Helpers for console tests: an admin account, its login, and the forms' CSRF tokens.

Passwords are hashed with cheap argon2 parameters here (the runtime part
`admin_passwords`), so that the many logins of the tests stay fast; the
rules around the hasher are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from worker.core.models import AdminImport
from worker.core.runtime import Runtime
from worker.web.admin.accounts import add_admin
from worker.web.admin.passwords import Passwords
from worker.web.app import create_app

ADMIN_EMAIL = "root@example.org"
ADMIN_PASSWORD = "correct horse battery staple"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    runtime: Runtime
    app: Flask

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def add_admin(self, email: str, password: str) -> None:
        runtime = self.runtime
        with runtime.sessions() as session, session.begin():
            add_admin(session, passwords(runtime), email, password, "cli:test", runtime.now())


def passwords(runtime: Runtime) -> Passwords:
    return runtime.part("admin_passwords", lambda: Passwords(CHEAP_HASHER))


def open_console(runtime: Runtime) -> Console:
    """The app on `runtime` with the admin ADMIN_EMAIL / ADMIN_PASSWORD."""
    passwords(runtime)
    console = Console(runtime, create_app(runtime))
    console.add_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    return console


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def form_token(client: FlaskClient, path: str = "/admin/login") -> str:
    """The CSRF token the page at `path` gives this client's session."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return csrf_token(page.text)


def log_in(
    client: FlaskClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, **extra: str
) -> TestResponse:
    token = form_token(client)
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post("/admin/login", data=data)


def logged_in(console: Console) -> FlaskClient:
    client = console.client()
    answer = log_in(client)
    assert answer.status_code == 302, answer.text
    return client


def post_form(client: FlaskClient, path: str, data: dict[str, str]) -> TestResponse:
    """POST with the CSRF token of this client's session (read from the audit page)."""
    return client.post(path, data={"csrf_token": form_token(client, "/admin/audit"), **data})


def import_under_way(
    runtime: Runtime, *, state: str, lines_done: int, lines_total: int = 100_001, content: str = ""
) -> int:
    """The id of a console import of big.csv left in `state` (a dry run or an apply at work)."""
    with runtime.sessions() as session, session.begin():
        row = AdminImport(
            created_by=ADMIN_EMAIL,
            created_at=runtime.now(),
            filename="big.csv",
            format="csv",
            content=content,
            state=state,
            lines_total=lines_total,
            lines_done=lines_done,
        )
        session.add(row)
        session.flush()
        return row.id
