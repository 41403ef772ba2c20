"""Hostile logins: where `next` may lead, cookies the console never set, bytes a form can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.integration.web.admin.console import ADMIN_EMAIL, Console, form_token, log_in
from worker.core.models import AdminLoginFailure
from worker.web.admin.login import REFUSED

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def test_next_never_leaves_the_console_and_never_breaks_the_redirect(console: Console) -> None:
    for given in [
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/admin@evil.example",
        "/admin.evil.example/",
        "javascript:alert(1)",
        " javascript:alert(1)",
        "https:/evil.example",
        "/\t/evil.example",
        "/admin/\r\nSet-Cookie: trialalerts_admin=fixed",
        "/admin/\nx",
        "/admin/\x00",
        "/admin/\u202e",
    ]:
        answer = log_in(console.client(), next=given)
        assert answer.status_code == 302 and answer.location == "/admin/", repr(given)
    kept = log_in(console.client(), next="/admin/suppressions?after=caf\u00e9")
    assert kept.location == "/admin/suppressions?after=caf%C3%A9"


def test_a_remember_me_cookie_from_elsewhere_is_ignored(console: Console) -> None:
    anonymous = console.client()
    anonymous.set_cookie("remember_token", "1|" + "0" * 128, path="/")
    assert anonymous.get("/admin/login").status_code == 200
    refused = anonymous.get("/admin/audit")
    assert refused.status_code == 302 and refused.location.startswith("/admin/login")
    assert log_in(anonymous).status_code == 302
    assert anonymous.get("/admin/audit").status_code == 200
    token = form_token(anonymous, "/admin/audit")
    assert anonymous.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert anonymous.get("/admin/audit").status_code == 302


def test_an_address_with_nul_is_refused_like_any_unknown_one(console: Console) -> None:
    for email in ["root\x00@example.org", "\x00", ADMIN_EMAIL + "\x00"]:
        answer = log_in(console.client(), email=email)
        assert answer.status_code == 401 and REFUSED in answer.text, repr(email)
    with console.runtime.sessions() as session:
        tried = session.scalars(select(AdminLoginFailure.email)).all()
    assert sorted(tried) == ["root@example.org\ufffd", "root\ufffd@example.org", "\ufffd"]


def test_tries_made_during_a_lock_never_count_later(console: Console) -> None:
    client = console.client()
    for minutes in (0, 10, 10, 10, 10, 20):  # locked from 10 to 25; the try at 20 does not count
        console.runtime.clock = lambda minutes=minutes: START + timedelta(minutes=minutes)
        assert log_in(client, password="not the password at all").status_code == 401
    # At 31 the failure at 0 is too old to be read back; 10, 10, 10, 10 and 20 are
    # five within 15 minutes, which would lock until 35 had the try at 20 been kept.
    console.runtime.clock = lambda: START + timedelta(minutes=31)
    assert log_in(client).status_code == 302
