"""Only the exact text of a link's token opens it: no other spelling of the same bytes.

Base64 decoders forgive `=` padding, characters outside the alphabet and the
unused low bits of the last character, so one signature has several
spellings. Each is an altered token: 400 on every route, and nothing changes.
The same holds for the preferences page's form token (403).
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from itsdangerous.encoding import base64_decode

from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.integration.web.test_unsubscribe import snapshot
from tests.support import event, record
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.broker import drain
from worker.web.app import create_app

SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def respellings(token: str) -> list[str]:
    """Texts a lenient base64 decoder reads as the same token, each one different from it."""
    head, dot, last = token.rpartition(".")
    same_bits = [
        f"{head}{dot}{last[:-1]}{char}"
        for char in ALPHABET
        if char != last[-1] and base64_decode(last[:-1] + char) == base64_decode(last)
    ]
    assert same_bits  # a 32-byte signature leaves 2 bits of its last character unused
    return [*same_bits, f"{token}=", f"{token}==", f"{token[:-6]}é{token[-6:]}"]


def _mails(runtime: Runtime) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(runtime.settings.outbox).glob("*.eml"))
    ]


def _body(message: email.message.EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def links(runtime: Runtime, stub_broker: StubBroker) -> dict[str, str]:
    """Every kind of link, as mailed: a digest's four, and a sign-up's confirmation link."""
    subscribe(runtime, [{"email": "ada@example.org", "kind": "condition", "condition": "lung"}])
    publish_at(runtime, stub_broker, SUNDAY_EVENING, [event(record("NCT04267848"), "e1")])
    tick(runtime, stub_broker, MONDAY_MORNING)
    [digest] = _mails(runtime)
    hrefs = re.findall(r'href="(https?://[^"]+)"', _body(digest, "html"))
    client = create_app(runtime).test_client()
    answer = client.post("/signup", data={"email": "bo@example.org", "condition": "melanoma"})
    assert answer.status_code == 303
    drain(stub_broker)
    [confirm] = [m for m in _mails(runtime) if m["To"] == "bo@example.org"]
    urls = {
        "/u/": re.search(r"<(http[^>]+)>", str(digest["List-Unsubscribe"])).group(1),  # type: ignore[union-attr]
        "/u/s/": next(h for h in hrefs if "/u/s/" in h),
        "/u/all/": next(h for h in hrefs if "/u/all/" in h),
        "/preferences/": next(h for h in hrefs if "/preferences/" in h),
        "/confirm/": re.findall(r"https?://\S+/confirm/\S+", _body(confirm, "plain"))[0],
    }
    return {route: urlsplit(url).path for route, url in urls.items()}


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(MONDAY_MORNING)
    return create_app(runtime).test_client()


def test_every_route_takes_only_the_tokens_own_spelling(
    runtime: Runtime, links: dict[str, str], client: FlaskClient
) -> None:
    before = snapshot(runtime)
    for route, path in links.items():
        assert path.startswith(route)
        assert client.get(path).status_code == 200, route
        token = path.removeprefix(route)
        for other in respellings(token):
            assert client.get(route + other).status_code == 400, (route, other)
            assert client.post(route + other).status_code == 400, (route, other)
    assert snapshot(runtime) == before


def test_the_preferences_form_takes_only_its_tokens_own_spelling(
    runtime: Runtime, links: dict[str, str], client: FlaskClient
) -> None:
    url = links["/preferences/"]
    page = client.get(url).get_data(as_text=True)
    [csrf] = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    before = snapshot(runtime)
    for other in respellings(csrf):
        answer = client.post(url, data={"csrf_token": other, "action": "stop-all"})
        assert answer.status_code == 403, other
    assert snapshot(runtime) == before
    answer = client.post(url, data={"csrf_token": csrf, "action": "stop-all"})
    assert answer.status_code == 303
