"""The web flows in a real browser: headless Chromium against the app on a real server.

Chromium is Debian's package (scripts/browser.sh installs it), driven by
Playwright's driver; the app runs on a loopback port with a SQLite database
and the file outbox, so the links followed are the ones in real emails.
The window is phone-sized: every page must fit it without sideways scrolling.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.browser.screen import fits_a_phone
from tests.conftest import make_runtime
from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.support import event, record
from worker.core.models import Signup, Subscriber, Subscription
from worker.core.runtime import Runtime, set_runtime
from worker.queue.broker import drain
from worker.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
SMALL_PHONE: ViewportSize = {"width": 360, "height": 740}
SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/browser.sh"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@dataclass
class Site:
    runtime: Runtime
    url: str
    broker: StubBroker

    def mails(self) -> list[email.message.EmailMessage]:
        """The mails sent once the queue has run what the requests left for it."""
        drain(self.broker)
        return [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(Path(self.runtime.settings.outbox).glob("*.eml"))
        ]


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path, stub_broker: StubBroker) -> Iterator[Site]:
    """The app on a real HTTP server; email links point at it."""
    app_holder: dict[str, Any] = {}
    server = make_server(
        "127.0.0.1", 0, lambda environ, start: app_holder["app"](environ, start), threaded=True
    )
    url = f"http://127.0.0.1:{server.server_port}"
    runtime = make_runtime(sqlite_url, tmp_path, base_url=url)
    set_runtime(runtime)
    app_holder["app"] = create_app(runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(runtime, url, stub_broker)
    server.shutdown()
    thread.join()
    set_runtime(None)
    runtime.close()


@pytest.fixture
def digest(site: Site, stub_broker: StubBroker) -> email.message.EmailMessage:
    subscribe(
        site.runtime,
        [{"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"}],
    )
    publish_at(site.runtime, stub_broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))
    tick(site.runtime, stub_broker, MONDAY_MORNING)
    [message] = site.mails()
    return message


def _subscription(runtime: Runtime) -> tuple[str, bool]:
    with runtime.sessions() as session:
        [row] = session.execute(select(Subscription.frequency, Subscription.active)).all()
        return row.frequency, row.active


def test_the_unsubscribe_link_of_a_digest_stops_it_at_the_click(
    page: Page, site: Site, digest: email.message.EmailMessage
) -> None:
    [link] = re.findall(r"<(http[^>]+)>", str(digest["List-Unsubscribe"]))
    assert link.startswith(site.url)
    page.goto(link)
    expect(page.get_by_role("heading", name="Stop your daily digests?")).to_be_visible()
    expect(page.get_by_text("New studies on lung cancer")).to_be_visible()
    assert fits_a_phone(page)
    assert _subscription(site.runtime) == ("daily", True)  # opening the link stops nothing

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert _subscription(site.runtime) == ("daily", False)


def test_a_frequency_is_changed_on_the_preferences_page(
    page: Page, site: Site, digest: email.message.EmailMessage
) -> None:
    html = digest.get_body(preferencelist=("html",))
    assert html is not None
    [preferences] = set(re.findall(r'href="([^"]+/preferences/[^"]+)"', html.get_content()))
    page.goto(preferences)
    expect(page.get_by_role("heading", name="Your alerts")).to_be_visible()
    assert fits_a_phone(page)
    page.get_by_text("Change this alert").click()
    assert fits_a_phone(page)
    page.get_by_label("How often").select_option(label="Weekly digest")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Saved"))
    expect(page.get_by_label("How often")).to_have_value("weekly")
    assert _subscription(site.runtime) == ("weekly", True)


def test_sign_up_and_confirm_from_the_email(page: Page, site: Site) -> None:
    page.goto(site.url + "/signup")
    assert fits_a_phone(page)
    page.get_by_label("Your email address").fill("grace@example.org")
    page.get_by_label("Condition", exact=True).fill("Head and neck cancer")
    page.get_by_label("How often").select_option("weekly")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    [mail] = site.mails()
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    [confirm] = set(re.findall(r"http\S+/confirm/\S+", text.get_content()))
    page.goto(confirm)
    expect(page.get_by_text("Head and neck cancer")).to_be_visible()
    with site.runtime.sessions() as session:
        assert session.scalars(select(Subscription)).all() == []
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    with site.runtime.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Subscription.condition, Subscription.frequency)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscription.active.is_(True), Subscription.confirmed.is_(True))
        ).all()
    assert [tuple(row) for row in rows] == [("grace@example.org", "Head and neck cancer", "weekly")]


def _alerts(runtime: Runtime) -> list[tuple[Any, ...]]:
    """Every subscription: target, place, km, age, frequency, active, confirmed."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                Subscription.condition,
                Subscription.nct_id,
                Subscription.near_place,
                Subscription.near_km,
                Subscription.age,
                Subscription.frequency,
                Subscription.active,
                Subscription.confirmed,
            ).order_by(Subscription.id)
        ).all()
    return [tuple(row) for row in rows]


def test_sign_up_near_a_place_then_change_the_distance_and_stop_one_alert(
    page: Page, site: Site
) -> None:
    subscribe(
        site.runtime, [{"email": "grace@example.org", "kind": "study", "nct_id": "NCT04267848"}]
    )
    followed = (None, "NCT04267848", None, None, None, "daily", True, True)
    page.set_viewport_size(SMALL_PHONE)  # the longest forms, on the narrowest common phone

    page.goto(site.url + "/signup")
    assert fits_a_phone(page)
    page.get_by_label("Your email address").fill("grace@example.org")
    page.get_by_label("Condition", exact=True).fill("Lung cancer")
    page.get_by_label("Your age in years").fill("42")
    page.get_by_label("Phase 3: does it work better than the usual treatment").check()
    page.get_by_label("Place", exact=True).fill("milano, italy")
    page.get_by_label("Distance", exact=True).fill("30")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    with site.runtime.sessions() as session:
        [signup] = session.scalars(select(Signup)).all()
        asked = (signup.condition, signup.age, signup.phases, signup.near_place, signup.near_km)
    assert asked == ("Lung cancer", 42, ["PHASE3"], "Milan, Italy", 30.0)
    assert _alerts(site.runtime) == [followed]

    [mail] = site.mails()
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    [confirm] = set(re.findall(r"http\S+/confirm/\S+", text.get_content()))
    page.goto(confirm)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    lung = ("Lung cancer", None, "Milan, Italy", 30.0, 42, "daily", True, True)
    assert _alerts(site.runtime) == [followed, lung]

    page.get_by_role("link", name="See and change your alerts").click()
    expect(page.get_by_role("heading", name="Your alerts")).to_be_visible()
    alert = page.get_by_role("listitem").filter(has_text="New studies on Lung cancer")
    expect(alert).to_contain_text("a site within 30 km of Milan, Italy; open to age 42")
    alert.get_by_text("Change this alert").click()
    expect(alert.get_by_label("Place", exact=True)).to_have_value("Milan, Italy")
    assert fits_a_phone(page)

    alert.get_by_label("Distance", exact=True).fill("99999")
    alert.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("listitem").filter(has_text="New studies on Lung cancer")
    expect(alert.locator(".field-error")).to_contain_text("at most 20,000 km")
    expect(alert.get_by_label("Distance", exact=True)).to_have_value("99999")
    assert fits_a_phone(page)
    assert _alerts(site.runtime) == [followed, lung]

    alert.get_by_label("Distance", exact=True).fill("50")
    alert.get_by_label("Unit of distance").select_option(label="miles")
    alert.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Saved"))
    moved = ("Lung cancer", None, "Milan, Italy", 80.467, 42, "daily", True, True)
    assert _alerts(site.runtime) == [followed, moved]

    study = page.get_by_role("listitem").filter(has_text="Study NCT04267848")
    study.get_by_role("button", name="Stop this alert").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Stopped"))
    assert _alerts(site.runtime) == [followed[:-2] + (False, True), moved]
