"""No console route answers an anonymous request: found by walking the app's URL map.

Routes added later are covered without touching this test.  Anonymous
requests never reach the database (no session, no account to load), so the
runtime here has no schema at all.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask import Flask

from tests.conftest import TEST_KEY
from worker.core.config import Settings
from worker.core.runtime import Runtime
from worker.web.admin.auth import is_data_endpoint
from worker.web.app import create_app

PUBLIC = {"admin.login", "admin.login_submit"}


def _console_rules(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, path, method) of every console rule, a value of 1 for each variable."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        path = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1))
        for method in sorted((rule.methods or set()) & {"GET", "POST", "PUT", "PATCH", "DELETE"}):
            found.append((rule.endpoint, path, method))
    return found


def test_every_console_route_refuses_an_anonymous_request(tmp_path: Path) -> None:
    runtime = Runtime(
        Settings(database_url=f"sqlite:///{tmp_path}/none.db", secret_keys=(TEST_KEY,))
    )
    app = create_app(runtime)
    client = app.test_client()
    checked = set()
    for endpoint, path, method in _console_rules(app):
        if endpoint in PUBLIC:
            continue
        view = app.view_functions[endpoint]
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        answer = client.open(path, method=method, data={"confirmed": "yes"})
        if is_data_endpoint(view, rule.rule):
            assert answer.status_code == 401, (method, path)
            assert answer.json == {"error": "log in to the admin console first"}
        else:
            assert answer.status_code == 302, (method, path, answer.status_code)
            assert answer.location.startswith("/admin/login"), (method, path)
            if method == "GET":
                assert parse_qs(urlsplit(answer.location).query)["next"] == [path]
        checked.add((method, rule.rule))
    assert {("GET", "/admin/"), ("GET", "/admin/audit"), ("POST", "/admin/logout"),
            ("POST", "/admin/suppressions/add")} <= checked  # fmt: skip
    assert not (tmp_path / "none.db").exists()  # nothing reached the database


def test_data_endpoints_answer_401_and_pages_redirect() -> None:
    def plain() -> None: ...

    def flagged() -> None: ...

    flagged.admin_data = True  # type: ignore[attr-defined]
    assert is_data_endpoint(plain, "/admin/subscribers.json")
    assert is_data_endpoint(flagged, "/admin/imports/<int:id>/progress")
    assert not is_data_endpoint(plain, "/admin/subscribers")
