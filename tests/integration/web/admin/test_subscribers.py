"""Subscribers in the console: search, one subscriber's page, preview, confirmed audited actions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.feedback_support import bounce
from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.integration.web.admin.console import ADMIN_EMAIL, Console, logged_in, post_form
from tests.support import event, record
from worker.core.delivery_states import State
from worker.core.models import AuditEntry, Delivery, Subscriber, Subscription, Suppression
from worker.core.runtime import Runtime
from worker.feedback.store import record_feedback
from worker.subscriptions.suppressions import add_suppression, remove_suppression

HOSTILE = "<script>alert(1)</script>"
SUNDAY_EVENING = datetime(2026, 6, 28, 18, 0, tzinfo=UTC)


def _people(runtime: Runtime) -> dict[str, int]:
    subscribe(
        runtime,
        [
            {"email": "ada@example.org", "kind": "condition", "condition": "lung cancer",
             "statuses": "RECRUITING", "countries": "Italy"},
            {"email": "ada@example.org", "kind": "study", "nct_id": "NCT07635641"},
            {"email": "adam@example.org", "kind": "condition", "condition": HOSTILE},
            {"email": "bob@example.org", "kind": "condition", "condition": "Lung disease"},
        ],
    )  # fmt: skip
    with runtime.sessions() as session:
        return {email: pk for email, pk in session.execute(select(Subscriber.email, Subscriber.id))}


def _states(runtime: Runtime, email: str) -> list[bool]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(Subscription.active)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscriber.email == email)
                .order_by(Subscription.id)
            )
        )


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
        return [tuple(row) for row in rows if not row.action.startswith("admin_user.")]


def test_search_by_address_and_by_condition_links_each_subscriber(console: Console) -> None:
    ids = _people(console.runtime)
    client = logged_in(console)

    by_address = client.get("/admin/subscribers", query_string={"q": "ADA"})
    assert by_address.status_code == 200
    links = re.findall(r'href="/admin/subscribers/(\d+)">([^<]+)<', by_address.text)
    assert links == [(str(ids["ada@example.org"]), "ada@example.org"),
                     (str(ids["adam@example.org"]), "adam@example.org")]  # fmt: skip

    by_condition = client.get("/admin/subscribers", query_string={"q": "lung", "by": "condition"})
    assert "ada@example.org" in by_condition.text and "bob@example.org" in by_condition.text
    assert "adam@example.org" not in by_condition.text
    assert "Lung disease" in by_condition.text

    hostile = client.get("/admin/subscribers", query_string={"q": "<scr", "by": "condition"})
    assert HOSTILE not in hostile.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
    assert (
        client.get("/admin/subscribers", query_string={"q": "\x00", "by": "x"}).status_code == 200
    )


def test_keyset_pages_link_to_the_next_page_of_addresses(console: Console) -> None:
    subscribe(
        console.runtime,
        [{"email": f"p{n:02}@example.org", "kind": "study", "nct_id": "NCT07635641"}
         for n in range(55)],
    )  # fmt: skip
    client = logged_in(console)

    first = client.get("/admin/subscribers", query_string={"q": "p"})
    [next_link] = re.findall(r'href="([^"]+)">Next page<', first.text)
    second = client.get(next_link.replace("&amp;", "&"))

    assert "after=p49@example.org" in next_link
    assert "p49@example.org" in first.text and "p50@example.org" not in first.text
    assert "p50@example.org" in second.text and "p54@example.org" in second.text
    assert "Next page" not in second.text


def test_a_subscriber_page_shows_filters_deliveries_bounces_and_suppression(
    console: Console,
) -> None:
    runtime = console.runtime
    ids = _people(runtime)
    with runtime.sessions() as session, session.begin():
        session.add(
            Delivery(
                subscriber_id=ids["ada@example.org"],
                frequency="daily",
                window=SUNDAY_EVENING,
                state=State.FAILED,
                message_id="0100018f-ada-1",
                last_error="MessageRejected: \x1b[31m" + HOSTILE,
                created_at=SUNDAY_EVENING,
                updated_at=SUNDAY_EVENING,
            )
        )
        body = bounce(["ada@example.org"], message_id="0100018f-ada-1")
        record_feedback(session, [json.dumps(body)], runtime.now())
    client = logged_in(console)

    page = client.get(f"/admin/subscribers/{ids['ada@example.org']}")

    assert page.status_code == 200
    text = page.text
    assert "statuses: RECRUITING" in text and "countries: Italy" in text
    assert "Study NCT07635641" in text and "(confirmed)" in text
    assert "<code>0100018f-ada-1</code>" in text and "<td>bounced</td>" in text
    assert "Bounce/Permanent" in text
    assert "Suppressed since" in text and "permanent bounce" in text
    assert HOSTILE not in text and "\x1b" not in text
    assert "\\x1b[31m" in text
    assert "Preview digest" in text
    assert client.get("/admin/subscribers/99999").status_code == 404
    assert client.get("/admin/subscribers/٣").status_code == 404


def test_stopping_and_restarting_a_subscription_asks_first_and_is_audited(
    console: Console,
) -> None:
    runtime = console.runtime
    ids = _people(runtime)
    ada = ids["ada@example.org"]
    with runtime.sessions() as session:
        first = session.scalars(
            select(Subscription.id)
            .where(Subscription.subscriber_id == ada)
            .order_by(Subscription.id)
        ).first()
    client = logged_in(console)
    path = f"/admin/subscribers/{ada}"

    asked = post_form(client, f"{path}/stop", {"subscription": str(first)})
    assert asked.status_code == 200 and "Stop this subscription?" in asked.text
    assert _states(runtime, "ada@example.org") == [True, True]

    done = post_form(client, f"{path}/stop", {"subscription": str(first), "confirmed": "yes"})
    assert done.status_code == 302
    assert _states(runtime, "ada@example.org") == [False, True]
    assert "Stopped: condition" in client.get(path).text

    post_form(client, f"{path}/restart", {"subscription": str(first), "confirmed": "yes"})
    assert _states(runtime, "ada@example.org") == [True, True]

    actions = [(actor, action, before["active"], after["active"])  # type: ignore[index]
               for actor, action, _, before, after in _audit(runtime)]  # fmt: skip
    assert actions == [
        (ADMIN_EMAIL, "subscription.stop", True, False),
        (ADMIN_EMAIL, "subscription.restart", False, True),
    ]
    other = ids["bob@example.org"]
    refused = post_form(client, f"/admin/subscribers/{other}/stop", {"subscription": str(first)})
    assert refused.status_code == 404
    assert _states(runtime, "ada@example.org") == [True, True]


def test_suppress_unsuppress_and_remove_ask_first_and_are_audited(console: Console) -> None:
    runtime = console.runtime
    ids = _people(runtime)
    bob = ids["bob@example.org"]
    client = logged_in(console)
    path = f"/admin/subscribers/{bob}"

    asked = post_form(client, f"{path}/suppress", {"reason": "asked by phone"})
    assert "Suppress this address?" in asked.text
    with runtime.sessions() as session:
        assert session.get(Suppression, "bob@example.org") is None
    post_form(client, f"{path}/suppress", {"reason": "asked by phone", "confirmed": "yes"})
    with runtime.sessions() as session:
        held = session.get(Suppression, "bob@example.org")
        assert held is not None and held.reason == "asked by phone"
    assert "asked by phone" in post_form(client, f"{path}/unsuppress", {"confirmed": "yes"}).text
    post_form(
        client, f"{path}/unsuppress", {"confirmed": "yes", "since": held.created_at.isoformat()}
    )
    with runtime.sessions() as session:
        assert session.get(Suppression, "bob@example.org") is None

    asked = post_form(client, f"{path}/remove", {})
    assert "Remove this subscriber?" in asked.text and "1 subscription " in asked.text
    removed = post_form(client, f"{path}/remove", {"confirmed": "yes"})
    assert removed.status_code == 302
    assert client.get(path).status_code == 404

    audit = _audit(runtime)
    assert [(action, target) for _, action, target, _, _ in audit] == [
        ("suppression.add", "bob@example.org"),
        ("suppression.remove", "bob@example.org"),
        ("subscriber.remove", "bob@example.org"),
    ]
    before = audit[-1][3]
    assert isinstance(before, dict)
    assert [sub["target"] for sub in before["subscriptions"]] == ["Lung disease"]


def test_a_stale_form_changes_nothing(console: Console) -> None:
    ids = _people(console.runtime)
    client = logged_in(console)
    answer = client.post(
        f"/admin/subscribers/{ids['bob@example.org']}/remove",
        data={"csrf_token": "stale", "confirmed": "yes"},
    )
    assert answer.status_code == 400
    assert client.get(f"/admin/subscribers/{ids['bob@example.org']}").status_code == 200


def test_the_digest_preview_shows_what_is_waiting_in_a_sandbox(
    console: Console, stub_broker: StubBroker
) -> None:
    runtime = console.runtime
    subscribe(
        runtime, [{"email": "cy@example.org", "kind": "condition", "condition": "lung cancer"}]
    )
    ids = _people(runtime)
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))
    client = logged_in(console)

    listing = client.get(f"/admin/subscribers/{ids['cy@example.org']}/preview")
    assert listing.status_code == 200 and "Daily digest:" in listing.text
    [link] = re.findall(r'href="([^"]+/preview/daily)"', listing.text)
    email = client.get(link)

    assert email.status_code == 200 and email.mimetype == "text/html"
    assert "NCT04267848" in email.text
    assert email.headers["Content-Security-Policy"].startswith("sandbox;")
    nothing = client.get(f"/admin/subscribers/{ids['adam@example.org']}/preview")
    assert "Nothing is waiting for adam@example.org" in nothing.text
    assert (
        client.get(f"/admin/subscribers/{ids['adam@example.org']}/preview/daily").status_code == 404
    )


def test_nul_in_a_reason_is_kept_as_a_replacement_character(console: Console) -> None:
    """PostgreSQL cannot store NUL: the request must not fail with a 500."""
    ids = _people(console.runtime)
    client = logged_in(console)
    path = f"/admin/subscribers/{ids['bob@example.org']}/suppress"

    answer = post_form(client, path, {"reason": "by\x00phone", "confirmed": "yes"})

    assert answer.status_code == 302
    with console.runtime.sessions() as session:
        held = session.get(Suppression, "bob@example.org")
        assert held is not None and held.reason == "by\ufffdphone"


def test_a_stale_confirmation_never_lifts_a_newer_suppression(console: Console) -> None:
    """Asked to lift an admin's suppression, confirmed after it was lifted and a complaint
    suppressed the address again: the complaint's suppression stays."""
    runtime = console.runtime
    bob = _people(runtime)["bob@example.org"]
    client = logged_in(console)
    path = f"/admin/subscribers/{bob}"
    post_form(client, f"{path}/suppress", {"reason": "asked by phone", "confirmed": "yes"})

    asked = post_form(client, f"{path}/unsuppress", {})
    assert "asked by phone" in asked.text, "the confirmation names the suppression it lifts"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', asked.text))
    with runtime.sessions() as session, session.begin():
        remove_suppression(session, "bob@example.org")
        add_suppression(session, "bob@example.org", "complaint", datetime(2031, 1, 2, tzinfo=UTC))

    stale = client.post(f"{path}/unsuppress", data=fields)

    assert stale.status_code == 302
    with runtime.sessions() as session:
        held = session.get(Suppression, "bob@example.org")
        assert held is not None and held.reason == "complaint"
    assert "Nothing was lifted" in client.get(path).text
    assert [action for _, action, _, _, _ in _audit(runtime)] == ["suppression.add"]
    fresh = post_form(client, f"{path}/unsuppress", {})
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', fresh.text))
    assert "complaint" in fresh.text
    client.post(f"{path}/unsuppress", data=fields)
    with runtime.sessions() as session:
        assert session.get(Suppression, "bob@example.org") is None
