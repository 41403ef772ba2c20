"""Logging in and out: sessions, cookie flags, the lockout, the same answer for unknown accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import select

from tests.conftest import make_runtime
from tests.integration.web.admin.console import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Console,
    form_token,
    log_in,
    logged_in,
    open_console,
)
from worker.core.models import AdminLoginFailure, AdminUser
from worker.web.admin.accounts import remove_admin
from worker.web.admin.passwords import Passwords

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


class CountingPasswords(Passwords):
    """Counts hasher runs: every refused login must cost the same one verification."""

    def __init__(self, hasher: PasswordHasher) -> None:
        super().__init__(hasher)
        self.verifications = 0

    def verify(self, stored_hash: str | None, password: str) -> bool:
        self.verifications += 1
        return super().verify(stored_hash, password)


def _at(console: Console, moment: datetime) -> None:
    console.runtime.clock = lambda: moment


def test_a_login_opens_the_console_and_a_logout_closes_every_copy_of_the_session(
    console: Console,
) -> None:
    client = console.client()
    assert client.get("/admin/audit").status_code == 302
    answer = log_in(client, email="  Root@Example.ORG ", next="/admin/audit")
    assert answer.status_code == 302 and answer.location == "/admin/audit"
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "Logged in as root@example.org" in page.text
    stolen = client.get_cookie("trialalerts_admin", path="/admin")
    assert stolen is not None

    answer = client.post("/admin/logout", data={"csrf_token": form_token(client, "/admin/audit")})
    assert answer.status_code == 302 and answer.location == "/admin/login"
    assert client.get("/admin/audit").status_code == 302

    replayed = console.client()
    replayed.set_cookie("trialalerts_admin", stolen.value, path="/admin")
    answer = replayed.get("/admin/audit")
    assert answer.status_code == 302 and answer.location.startswith("/admin/login")


def test_a_login_starts_a_new_session_and_older_forms_go_stale(console: Console) -> None:
    client = console.client()
    before_token = form_token(client)
    before_cookie = client.get_cookie("trialalerts_admin", path="/admin")
    assert log_in(client).status_code == 302
    after_cookie = client.get_cookie("trialalerts_admin", path="/admin")
    assert before_cookie is not None and after_cookie is not None
    assert after_cookie.value != before_cookie.value
    stale = client.post("/admin/logout", data={"csrf_token": before_token})
    assert stale.status_code == 400
    assert client.get("/admin/audit").status_code == 200  # still logged in


def test_removing_an_account_ends_its_sessions(console: Console) -> None:
    client = logged_in(console)
    assert client.get("/admin/audit").status_code == 200
    runtime = console.runtime
    with runtime.sessions() as session, session.begin():
        remove_admin(session, ADMIN_EMAIL, "cli:test", runtime.now())
    answer = client.get("/admin/audit")
    assert answer.status_code == 302 and answer.location.startswith("/admin/login")


def test_the_cookie_is_http_only_same_site_lax_for_the_console_only(console: Console) -> None:
    client = console.client()
    cookie = client.get("/admin/login").headers["Set-Cookie"]
    flags = [part.strip() for part in cookie.split(";")]
    assert flags[0].startswith("trialalerts_admin=")
    assert "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/admin" in flags
    assert "Secure" not in flags  # the base URL is http://
    assert client.get("/signup").headers.get("Set-Cookie") is None  # public pages: no session


def test_the_cookie_is_secure_when_the_base_url_is_https(sqlite_url: str, tmp_path: Path) -> None:
    runtime = make_runtime(sqlite_url, tmp_path, base_url="https://alerts.example.org")
    try:
        client = open_console(runtime).client()
        cookie = client.get("/admin/login").headers["Set-Cookie"]
        assert "Secure" in [part.strip() for part in cookie.split(";")]
    finally:
        runtime.close()


def test_five_failures_lock_an_account_for_fifteen_minutes_and_unknown_ones_look_the_same(
    console: Console,
) -> None:
    counting = CountingPasswords(console.runtime.parts["admin_passwords"].hasher)
    console.runtime.parts["admin_passwords"] = counting
    client = console.client()

    def attempt(email: str, password: str, minutes: float) -> tuple[int, str]:
        _at(console, START + timedelta(minutes=minutes))
        before = counting.verifications
        answer = log_in(client, email=email, password=password)
        assert counting.verifications == before + 1  # the same work, whatever the reason
        return answer.status_code, answer.text.replace(email, "EMAIL")

    for minute in range(5):  # five wrong passwords within 15 minutes
        wrong = attempt(ADMIN_EMAIL, "not the password at all", minute * 3)
        assert wrong[0] == 401
    locked = attempt(ADMIN_EMAIL, ADMIN_PASSWORD, 12.5)  # the right password, locked
    for minute in range(5):
        attempt("nobody@example.org", "any password whatsoever", minute)
    unknown_locked = attempt("nobody@example.org", "any password whatsoever", 5)
    unknown = attempt("never-seen@example.org", "any password whatsoever", 5)
    assert locked == wrong == unknown_locked == unknown
    assert "locked for 15 minutes" in locked[1]

    # Tries while locked neither extend the lock nor count towards the next one.
    assert attempt(ADMIN_EMAIL, ADMIN_PASSWORD, 26.9)[0] == 401  # 14.9 minutes after the 5th
    _at(console, START + timedelta(minutes=27))
    assert log_in(client).status_code == 302
    with console.runtime.sessions() as session:
        left = session.scalars(
            select(AdminLoginFailure.email).where(AdminLoginFailure.email == ADMIN_EMAIL)
        ).all()
        user = session.scalars(select(AdminUser)).one()
    assert left == [] and user.last_login_at == START + timedelta(minutes=27)


def test_failures_spread_over_more_than_fifteen_minutes_lock_nothing(console: Console) -> None:
    client = console.client()
    for minute in (0, 4, 8, 12, 16, 20):  # never five within 15 minutes
        _at(console, START + timedelta(minutes=minute))
        assert log_in(client, password="not the password at all").status_code == 401
    _at(console, START + timedelta(minutes=21))
    assert log_in(client).status_code == 302


def test_a_hash_made_with_older_parameters_is_replaced_at_login(console: Console) -> None:
    with console.runtime.sessions() as session:
        old = session.scalars(select(AdminUser.password_hash)).one()
    assert old.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    console.runtime.parts["admin_passwords"] = Passwords(
        PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    )
    assert log_in(console.client()).status_code == 302
    with console.runtime.sessions() as session:
        new = session.scalars(select(AdminUser.password_hash)).one()
    assert new.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert log_in(console.client()).status_code == 302  # and it still opens


def test_after_login_only_console_paths_are_followed(console: Console) -> None:
    for given, expected in [
        ("/admin/suppressions?after=a", "/admin/suppressions?after=a"),
        ("https://evil.example/admin/", "/admin/"),
        ("//evil.example/admin/", "/admin/"),
        ("/signup", "/admin/"),
        ("/admin/../signup", "/admin/"),
        ("/admin/%2e%2e/signup", "/admin/"),
        ("/admin\\..\\signup", "/admin/"),
        ("", "/admin/"),
    ]:
        answer = log_in(console.client(), next=given)
        assert answer.status_code == 302 and answer.location == expected, given


def test_a_login_form_without_a_valid_token_is_refused(console: Console) -> None:
    client = console.client()
    form_token(client)
    data = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    assert client.post("/admin/login", data=data).status_code == 400
    assert client.post("/admin/login", data={**data, "csrf_token": "forged"}).status_code == 400
    assert client.get("/admin/audit").status_code == 302
