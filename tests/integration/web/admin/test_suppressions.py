"""Suppressions in the console: every change confirmed, audited, and forged forms refused."""

from __future__ import annotations

from sqlalchemy import select

from tests.integration.web.admin.console import ADMIN_EMAIL, Console, logged_in, post_form
from worker.core.models import AuditEntry, Suppression
from worker.core.runtime import Runtime

HOSTILE = '<script>alert("x")</script>'


def _suppressed(runtime: Runtime) -> dict[str, str]:
    with runtime.sessions() as session:
        rows = session.execute(select(Suppression.email, Suppression.reason))
        return {row.email: row.reason for row in rows}


def _audit(runtime: Runtime) -> list[tuple[str, str, str, object, object]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.target,
                AuditEntry.before,
                AuditEntry.after,
            ).order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows if row.action.startswith("suppression.")]


def test_adding_and_removing_a_suppression_asks_first_and_is_audited(console: Console) -> None:
    client = logged_in(console)
    runtime = console.runtime
    asked = post_form(
        client, "/admin/suppressions/add", {"email": "Ada@Example.org ", "reason": HOSTILE}
    )
    assert asked.status_code == 200 and "Suppress this address?" in asked.text
    assert _suppressed(runtime) == {}

    done = post_form(
        client,
        "/admin/suppressions/add",
        {"email": "ada@example.org", "reason": HOSTILE, "confirmed": "yes"},
    )
    assert done.status_code == 302
    assert _suppressed(runtime) == {"ada@example.org": HOSTILE}
    listed = client.get("/admin/suppressions")
    assert "ada@example.org is suppressed." in listed.text
    assert HOSTILE not in listed.text and "&lt;script&gt;alert(" in listed.text

    asked = post_form(client, "/admin/suppressions/remove", {"email": "ada@example.org"})
    assert "Remove this suppression?" in asked.text and _suppressed(runtime) != {}
    done = post_form(
        client, "/admin/suppressions/remove", {"email": "ada@example.org", "confirmed": "yes"}
    )
    assert done.status_code == 302 and _suppressed(runtime) == {}

    [added, removed] = _audit(runtime)
    after = {"email": "ada@example.org", "reason": HOSTILE}
    assert added == (ADMIN_EMAIL, "suppression.add", "ada@example.org", None, after)
    assert removed[:3] == (ADMIN_EMAIL, "suppression.remove", "ada@example.org")
    assert removed[3]["reason"] == HOSTILE and removed[4] is None  # type: ignore[index]
    audit = client.get("/admin/audit").text
    assert "suppression.remove" in audit and HOSTILE not in audit and "&lt;script&gt;" in audit


def test_a_stale_or_missing_token_answers_400_and_changes_nothing(console: Console) -> None:
    client = logged_in(console)
    other = logged_in(console)  # another session: its tokens are not this one's
    foreign = post_form(other, "/admin/suppressions/add", {"email": "x@example.org"})
    assert foreign.status_code == 200
    foreign_token = foreign.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": "ada@example.org", "confirmed": "yes"}
    for token in (None, "", foreign_token, foreign_token + "x"):
        data = form if token is None else {**form, "csrf_token": token}
        answer = client.post("/admin/suppressions/add", data=data)
        assert answer.status_code == 400 and "out of date" in answer.text
    assert _suppressed(console.runtime) == {} and _audit(console.runtime) == []


def test_a_post_from_another_site_is_refused(console: Console) -> None:
    client = logged_in(console)
    answer = post_form(client, "/admin/suppressions/add", {"email": "x@example.org"})
    token = answer.text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post(
        "/admin/suppressions/add",
        data={"email": "ada@example.org", "confirmed": "yes", "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert refused.status_code == 400 and _suppressed(console.runtime) == {}


def test_bad_addresses_are_reported_escaped(console: Console) -> None:
    client = logged_in(console)
    answer = post_form(client, "/admin/suppressions/add", {"email": HOSTILE})
    assert answer.status_code == 400 and "Not an email address" in answer.text
    assert HOSTILE not in answer.text and "&lt;script&gt;" in answer.text
    missing = post_form(client, "/admin/suppressions/remove", {"email": HOSTILE})
    assert missing.status_code == 404 and HOSTILE not in missing.text


def test_the_list_pages_by_address(console: Console) -> None:
    runtime = console.runtime
    with runtime.sessions() as session, session.begin():
        for n in range(102):
            session.add(
                Suppression(email=f"a{n:03d}@example.org", reason="test", created_at=runtime.now())
            )
    client = logged_in(console)
    first = client.get("/admin/suppressions").text
    assert "a000@example.org" in first and "a099@example.org" in first
    assert "a100@example.org" not in first
    second = client.get("/admin/suppressions?after=a099@example.org").text
    assert "a100@example.org" in second and "a101@example.org" in second
    assert "a099@example.org" not in second.split("<table")[1]


def test_nul_in_any_field_is_answered_not_a_server_error(console: Console) -> None:
    client = logged_in(console)
    assert client.get("/admin/suppressions", query_string={"after": "a\x00"}).status_code == 200
    gone = post_form(client, "/admin/suppressions/remove", {"email": "ada@example.org\x00"})
    assert gone.status_code == 404 and _suppressed(console.runtime) == {}
    data = {"email": "ada@example.org", "reason": "by\x00phone", "confirmed": "yes"}
    assert post_form(client, "/admin/suppressions/add", data).status_code == 302
    assert _suppressed(console.runtime) == {"ada@example.org": "by\ufffdphone"}
