"""The console's list work in a real browser: find a subscriber, preview, import, replay.

Headless Chromium at 360 px against the app on a real server (SQLite, the
embedded mode: the import's dry run and apply run on a thread of the web
process, and the page reloads itself until they are done, without script).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.browser.screen import fits_a_phone
from tests.browser.test_browser import browser  # noqa: F401  (the shared headless Chromium)
from tests.conftest import make_runtime
from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.integration.web.admin.console import ADMIN_EMAIL, ADMIN_PASSWORD, open_console
from tests.support import event, record
from worker.core.models import DeadLetter, Subscription
from worker.core.runtime import Runtime, set_runtime
from worker.ingest.deadletters import dead_letter, store_dead_letters

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)
IMPORT = (
    "email,kind,condition,frequency\n"
    "grace@example.org,condition,melanoma,weekly\n"
    "henry@example.org,condition,asthma,hourly\n"
    "ida@example.org,study,,daily\n"
    "jo@example.org,condition,lung cancer,daily\n"
)


@dataclass
class Site:
    runtime: Runtime
    url: str


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path, stub_broker: StubBroker) -> Iterator[Site]:
    """The console on a real server: Ada with a digest waiting, and a dead letter valid now."""
    holder = {}
    server = make_server(
        "127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True
    )
    url = f"http://127.0.0.1:{server.server_port}"
    runtime = make_runtime(sqlite_url, tmp_path, base_url=url)
    set_runtime(runtime)
    holder["app"] = open_console(runtime).app
    subscribe(
        runtime, [{"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"}]
    )
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))
    valid = json.dumps(event(record("NCT04267848"), "resent"))
    with runtime.sessions() as session, session.begin():
        old = dead_letter("old-sender.jsonl", 4, "resent", "rejected by an older rule", valid,
                          SUNDAY_EVENING)  # fmt: skip
        store_dead_letters(session, [old])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(runtime, url)
    server.shutdown()
    thread.join()
    set_runtime(None)
    runtime.close()


@pytest.fixture
def narrow(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _log_in(page: Page, site: Site) -> None:
    page.goto(site.url + "/admin/subscribers")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Subscribers", exact=True)).to_be_visible()


def test_find_a_subscriber_and_preview_their_digest(narrow: Page, site: Site) -> None:
    page = narrow
    _log_in(page, site)
    assert fits_a_phone(page)
    page.get_by_label("Address or condition starts with").fill("ADA")
    page.get_by_role("button", name="Search").click()
    # The unfiltered list shows Ada's link too: click it on the search's answer, not the list.
    expect(page).to_have_url(re.compile(r"[?&]q=ADA(&|$)"))
    page.get_by_role("link", name="ada@example.org").click()

    expect(page.get_by_role("heading", name="ada@example.org")).to_be_visible()
    expect(page.locator("#subscriptions")).to_contain_text("lung cancer")
    assert fits_a_phone(page)
    page.get_by_role("link", name="Preview digest").click()
    expect(page.get_by_role("heading", name="Daily digest")).to_be_visible()
    page.get_by_role("link", name="Open the daily digest as the email shows it").click()
    expect(page.get_by_text("NCT04267848").first).to_be_visible()


def test_upload_an_import_read_its_bad_line_and_apply_it(
    narrow: Page, site: Site, tmp_path: Path
) -> None:
    page = narrow
    _log_in(page, site)
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import subscriptions")).to_be_visible()
    assert fits_a_phone(page)
    upload = tmp_path / "new people.csv"
    upload.write_text(IMPORT)
    page.get_by_label("File (.csv").set_input_files(upload)
    page.get_by_role("button", name="Upload and check").click()

    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    assert fits_a_phone(page)
    bad = page.locator("table.rejected tbody tr")
    expect(bad).to_have_count(2)
    expect(bad.nth(0).get_by_role("cell").first).to_have_text("3")
    expect(bad.nth(0).get_by_role("cell").nth(1)).to_contain_text("hourly")
    expect(bad.nth(1).get_by_role("cell").first).to_have_text("4")
    page.get_by_role("button", name="Apply the import").click()

    expect(page.get_by_role("heading", name="Applied")).to_be_visible()
    with site.runtime.sessions() as session:
        count = session.scalar(select(func.count()).select_from(Subscription))
    assert count == 3  # Ada's, and Grace's and Jo's from the file


def test_replay_a_dead_letter(narrow: Page, site: Site) -> None:
    page = narrow
    _log_in(page, site)
    page.get_by_role("link", name="Dead letters").click()
    expect(page.locator("#deadletters")).to_contain_text("rejected by an older rule")
    assert fits_a_phone(page)
    page.locator("#deadletters a").first.click()
    expect(page.locator("#payload")).to_contain_text('"id": "resent"')
    page.get_by_role("button", name="Replay…").click()
    expect(page.get_by_role("heading", name="Replay?")).to_be_visible()
    page.get_by_role("button", name="Replay", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("1 replayed.")
    with site.runtime.sessions() as session:
        replayed = session.scalar(select(DeadLetter.replayed_at))
    assert replayed is not None
