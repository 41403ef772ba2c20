"""The app as a whole: its templates, plain error pages, size limits, security headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.conftest import make_runtime
from worker.core.paths import templates_dir
from worker.core.runtime import Runtime
from worker.web.app import MAX_FORM_BYTES, create_app

WEB_TEMPLATES = templates_dir() / "web"


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """These answers do not depend on the database: one is enough."""
    made = make_runtime(sqlite_url, tmp_path)
    yield made
    made.close()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


def test_every_page_template_compiles_and_extends_the_base(runtime: Runtime) -> None:
    app = create_app(runtime)
    names = sorted(path.name for path in WEB_TEMPLATES.glob("*.html"))
    assert "base.html" in names and len(names) > 10
    for name in names:
        app.jinja_env.get_template(name)  # raises on a syntax error
        source = (WEB_TEMPLATES / name).read_text()
        if name != "base.html" and not name.startswith("_"):
            assert source.startswith('{% extends "base.html" %}'), name


def test_unknown_pages_and_methods_get_plain_pages(client: FlaskClient) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html" and "<h1>Not Found</h1>" in missing.get_data(True)
    wrong = client.delete("/signup")
    assert wrong.status_code == 405 and set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_page_forms_are_small(client: FlaskClient) -> None:
    huge = client.post(
        "/signup", data={"email": "a@example.org", "condition": "x" * MAX_FORM_BYTES}
    )
    assert huge.status_code == 413


def test_every_answer_carries_the_security_headers(client: FlaskClient) -> None:
    for response in (client.get("/signup"), client.get("/healthz"), client.get("/nope")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
