"""The console's templates and what every page shares: navigation, escaping, no script."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.integration.web.admin.console import Console, log_in, logged_in
from worker.core.audit import record_audit
from worker.core.paths import templates_dir
from worker.web.admin.blueprint import NAVIGATION

ADMIN_TEMPLATES = templates_dir() / "admin"
HOSTILE = "<script>alert(1)</script>"


def test_every_console_template_compiles_and_extends_the_console_base(console: Console) -> None:
    names = sorted(path.name for path in ADMIN_TEMPLATES.glob("*.html"))
    assert {"base.html", "login.html", "overview.html", "audit.html"} <= set(names)
    for name in names:
        console.app.jinja_env.get_template(f"admin/{name}")  # raises on a syntax error
        if name != "base.html" and not name.startswith("_"):
            source = (ADMIN_TEMPLATES / name).read_text()
            assert source.startswith('{% extends "admin/base.html" %}'), name


def test_pages_carry_the_navigation_and_mark_where_you_are(console: Console) -> None:
    html = logged_in(console).get("/admin/audit").text
    links = re.findall(r'<li><a href="([^"]+)"( aria-current="page")?>([^<]+)</a></li>', html)
    assert [label for _, _, label in links] == [label for label, _ in NAVIGATION]
    assert [label for _, here, label in links if here] == ["Audit"]
    assert '<button type="submit" class="secondary"' in html and ">Log out</button>" in html
    assert "<script" not in html


def test_hostile_text_is_escaped_on_the_login_page_and_in_the_audit_log(console: Console) -> None:
    refused = log_in(console.client(), email=f'"{HOSTILE}"@example.org')
    assert refused.status_code == 401 and HOSTILE not in refused.text
    assert "&lt;script&gt;" in refused.text
    runtime = console.runtime
    with runtime.sessions() as session, session.begin():
        now = datetime(2026, 6, 1, tzinfo=UTC)
        record_audit(session, HOSTILE, HOSTILE, HOSTILE, {"x": HOSTILE}, [HOSTILE], now=now)
    html = logged_in(console).get("/admin/audit").text
    assert HOSTILE not in html and html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 5
