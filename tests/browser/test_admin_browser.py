"""The admin console in a real browser: log in, read the overview's numbers, log out.

A 360 px wide window, keyboard only for the logout: the console must fit and
be usable without a mouse.  The overview's numbers are read from its SVG
chart and from the table beside it, and compared with the rows seeded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from werkzeug.serving import make_server

from tests.browser.screen import fits_a_phone
from tests.browser.test_browser import browser  # noqa: F401  (the shared headless Chromium)
from tests.conftest import make_runtime
from tests.integration.web.admin.activity import (
    BOUNCED,
    COMPLAINED,
    INGESTED,
    NOW,
    SENT,
    seed_activity,
)
from tests.integration.web.admin.console import ADMIN_EMAIL, ADMIN_PASSWORD, open_console
from worker.core.runtime import Runtime
from worker.web.admin.figures import last_days


@dataclass
class Console:
    runtime: Runtime
    url: str


@pytest.fixture
def console(sqlite_url: str, tmp_path: Path) -> Iterator[Console]:
    holder = {}
    server = make_server(
        "127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True
    )
    url = f"http://127.0.0.1:{server.server_port}"
    runtime = make_runtime(sqlite_url, tmp_path, base_url=url)
    runtime.clock = lambda: NOW
    holder["app"] = open_console(runtime).app
    seed_activity(runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Console(runtime, url)
    server.shutdown()
    thread.join()
    runtime.close()


@pytest.fixture
def narrow(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_log_in_read_the_overview_and_log_out(narrow: Page, console: Console) -> None:
    page = narrow
    page.goto(console.url + "/admin/")
    expect(page.get_by_role("heading", name="Log in to the admin console")).to_be_visible()
    assert fits_a_phone(page)
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("wrong password, surely")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an admin account")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert fits_a_phone(page)
    chart = page.locator("#chart-emails")
    expect(chart.get_by_role("img", name="Emails per day")).to_be_visible()
    shown = [int(v) for v in chart.locator("svg desc.value").all_text_contents()]
    assert sum(shown) == sum(SENT.values()) + sum(BOUNCED.values()) + sum(COMPLAINED.values())

    chart.get_by_text("Emails per day as a table").click()
    for day in last_days(NOW.date()):
        row = chart.get_by_role("row", name=day.isoformat())
        expected = [SENT.get(day, 0), BOUNCED.get(day, 0), COMPLAINED.get(day, 0)]
        expect(row.get_by_role("cell")).to_have_text([str(n) for n in expected])
    events = page.locator("#chart-events")
    events.get_by_text("Events ingested per day as a table").click()
    for day, count in INGESTED.items():
        expect(events.get_by_role("row", name=day.isoformat()).get_by_role("cell")).to_have_text(
            [str(count)]
        )
    expect(page.locator("#gauge-waiting")).to_contain_text("2 notifications waiting")
    expect(page.locator("#gauge-pacing")).to_contain_text("Not measured")

    page.locator("body").focus()
    for _ in range(30):  # keyboard only, from the top of the page to the logout button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Log out":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Log in to the admin console")).to_be_visible()
    page.goto(console.url + "/admin/")
    expect(page.get_by_role("heading", name="Log in to the admin console")).to_be_visible()
