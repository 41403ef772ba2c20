"""Random interleavings of everything people and admins do, against two promises.

1. No link ever reaches a different person: every link mailed to X, opened at
   any later point, answers 4xx or shows X's own alerts, never another
   person's address; a stop-all link mailed to X stops only X's alerts.
2. No notification is lost or sent twice: every email goes out once, and after
   a final run past every window, every notification of a running alert has
   gone out in a sent digest.

The steps are the real entry points: the admin import and remove services,
the WSGI app (sign-up, confirm, preferences, unsubscribe), worker.publish and
the in-process run. SQLite and PostgreSQL both.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import select

from tests.conftest import _truncate, make_runtime
from tests.support import event, record
from worker.core.delivery_states import State
from worker.core.models import Delivery, Notification, Subscription
from worker.core.runtime import Runtime, fixed_clock, set_runtime
from worker.queue.actors import install
from worker.queue.pipeline import publish
from worker.queue.runner import run_until_idle
from worker.sending.outbox import FileOutbox
from worker.subscriptions.lists import UnknownSubscriber, import_subscriptions, remove_subscriber
from worker.subscriptions.rows import parse_row
from worker.web.app import create_app

PEOPLE = ("ann@example.org", "ben@example.org", "cat@example.org")
CONDITIONS = ("asthma", "melanoma", "lung cancer")
FREQUENCIES = ("instant", "daily", "weekly")
STUDIES = ("NCT90000011", "NCT90000012", "NCT90000013")
START = datetime(2026, 6, 29, 6, 0, tzinfo=UTC)
LINK = re.compile(r"https?://[^/\s\"'<>]+(/(?:u|u/s|u/all|preferences|confirm)/[A-Za-z0-9_.\-]+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBSCRIPTION = re.compile(r'name="subscription" value="(\d+)"')
DATABASE_URL: dict[str, str] = {}


class RecordingOutbox(FileOutbox):
    """The file outbox, remembering every send (a resend would rewrite one file)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.sent: list[tuple[int, str, bytes]] = []

    def send(self, *, to_addr: str, raw: bytes, delivery_id: int, tags: dict[str, str]) -> str:
        self.sent.append((delivery_id, to_addr, raw))
        return super().send(to_addr=to_addr, raw=raw, delivery_id=delivery_id, tags=tags)


def _study(nct_id: str, condition: str, version: int) -> dict[str, Any]:
    data = record("NCT04267848")
    protocol = data["protocolSection"]
    protocol["identificationModule"]["nctId"] = nct_id
    protocol["conditionsModule"] = {"conditions": [condition]}
    protocol["statusModule"]["lastUpdateSubmitDate"] = f"2026-07-{version % 28 + 1:02d}"
    data.pop("derivedSection", None)
    return data


class Interleavings(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        url = DATABASE_URL["url"]
        self.folder = Path(tempfile.mkdtemp(prefix="interleavings-"))
        if url.startswith("postgresql"):
            _truncate(url)
        else:
            url = f"sqlite:///{self.folder / 'trialalerts.db'}"
        self.broker = StubBroker()
        install(self.broker)
        self.runtime: Runtime = make_runtime(url, self.folder, instant_delay_seconds=60)
        self.outbox = RecordingOutbox(self.folder / "outbox")
        self.runtime.parts["sender"] = self.outbox
        set_runtime(self.runtime)
        self.now = START
        self.runtime.clock = fixed_clock(self.now)
        self.client = create_app(self.runtime).test_client()
        self.versions = 0
        self.checked = 0  # sends whose links were already collected

    def teardown(self) -> None:
        set_runtime(None)
        self.runtime.close()
        self.broker.close()
        shutil.rmtree(self.folder, ignore_errors=True)  # one folder per example: hundreds a run

    # -- what people and admins do ------------------------------------------------

    @rule(person=st.sampled_from(PEOPLE), condition=st.sampled_from(CONDITIONS),
          frequency=st.sampled_from(FREQUENCIES))  # fmt: skip
    def admin_imports(self, person: str, condition: str, frequency: str) -> None:
        row = parse_row({"email": person, "kind": "condition", "condition": condition,
                         "frequency": frequency})  # fmt: skip
        with self.runtime.sessions() as session, session.begin():
            import_subscriptions(session, [(2, row)], self.now)

    @rule(person=st.sampled_from(PEOPLE))
    def admin_removes(self, person: str) -> None:
        try:
            with self.runtime.sessions() as session, session.begin():
                remove_subscriber(session, person)
        except UnknownSubscriber:
            pass

    @rule(person=st.sampled_from(PEOPLE), condition=st.sampled_from(CONDITIONS),
          frequency=st.sampled_from(FREQUENCIES))  # fmt: skip
    def signs_up(self, person: str, condition: str, frequency: str) -> None:
        answer = self.client.post("/signup", data={"email": person, "condition": condition,
                                                   "frequency": frequency})  # fmt: skip
        assert answer.status_code in (303, 400, 429), answer.status_code

    @rule(data=st.data())
    def clicks_a_mailed_link(self, data: st.DataObject) -> None:
        """Anyone's old link: confirm it, or stop everything with it (POST)."""
        links = self._links()
        if not links:
            return
        owner, path = data.draw(st.sampled_from(links))
        if path.startswith("/preferences/"):
            return
        before = self._active_subscriptions()
        answer = self.client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code < 500, (path, answer.status_code)
        after = self._active_subscriptions()
        stopped = {sub for sub in before if sub not in after}
        assert all(before[sub] == owner for sub in stopped), (owner, path, stopped)

    @rule(data=st.data(), frequency=st.sampled_from(FREQUENCIES), any_id=st.booleans())
    def changes_preferences(self, data: st.DataObject, frequency: str, any_id: bool) -> None:
        """Through a mailed preferences page; sometimes naming another person's alert."""
        pages = [(owner, path) for owner, path in self._links() if path.startswith("/preferences/")]
        if not pages:
            return
        owner, path = data.draw(st.sampled_from(pages))
        shown = self.client.get(path)
        if shown.status_code >= 400:
            return
        html = shown.get_data(as_text=True)
        token = CSRF.search(html)
        ids = [int(found) for found in SUBSCRIPTION.findall(html)]
        everyone = list(self._active_subscriptions()) + ids
        if token is None or not everyone:
            return
        target = data.draw(st.sampled_from(everyone if any_id else ids or everyone))
        before = self._frequencies()
        form = {"csrf_token": token.group(1), "action": "frequency",
                "subscription": str(target), "frequency": frequency}  # fmt: skip
        answer = self.client.post(path, data=form)
        assert answer.status_code < 500
        after = self._frequencies()
        for sub, (person, old) in before.items():
            if after.get(sub, (person, old))[1] != old:
                assert person == owner, (owner, sub, person)

    @rule(study=st.sampled_from(STUDIES), condition=st.sampled_from(CONDITIONS))
    def registry_publishes(self, study: str, condition: str) -> None:
        self.versions += 1
        report = publish(event(_study(study, condition, self.versions), f"e{self.versions}",
                               time=self.now.isoformat()))  # fmt: skip
        assert not report.rejections, report.rejections

    @rule(hours=st.sampled_from((0, 1, 6, 25)))
    def time_passes_and_workers_run(self, hours: int) -> None:
        self._run(timedelta(hours=hours))

    # -- the promises -------------------------------------------------------------

    @invariant()
    def every_email_goes_out_once(self) -> None:
        ids = [delivery_id for delivery_id, _, _ in self.outbox.sent]
        assert len(ids) == len(set(ids)), sorted(ids)

    @invariant()
    def no_link_shows_another_person(self) -> None:
        for owner, path in self._links():
            answer = self.client.get(path)
            assert answer.status_code < 500, (path, answer.status_code)
            if answer.status_code < 400:
                page = answer.get_data(as_text=True)
                strangers = [p for p in PEOPLE if p != owner and p in page]
                assert not strangers, (owner, path, strangers)

    def check_nothing_lost(self) -> None:
        self._run(timedelta(days=8))  # what was pending reaches its window...
        self._run(timedelta(days=8))  # ...and what that run matched, the next one
        with self.runtime.sessions() as session:
            running = set(session.scalars(select(Subscription.id).where(Subscription.active)))
            rows = session.execute(select(Delivery.id, Delivery.state))
            states = {pk: state for pk, state in rows}
            for note in session.scalars(select(Notification)):
                if not running.intersection(note.subscription_ids):
                    continue
                assert note.delivery_id is not None, f"notification {note.id} never went out"
                assert states[note.delivery_id] in (State.SENT, State.EMPTY), (
                    note.id, states[note.delivery_id])  # fmt: skip

    # -- helpers -------------------------------------------------------------------

    def _run(self, step: timedelta) -> None:
        self.now += step
        self.runtime.clock = fixed_clock(self.now)
        run_until_idle(self.runtime)

    def _links(self) -> list[tuple[str, str]]:
        found = []
        for _, to_addr, raw in self.outbox.sent:
            message = message_from_bytes(raw, policy=policy.default)
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            headers = str(message.get("List-Unsubscribe", ""))
            found += [(to_addr, path) for path in LINK.findall(text + headers)]
        return sorted(set(found))

    def _active_subscriptions(self) -> dict[int, str]:
        from worker.core.models import Subscriber

        with self.runtime.sessions() as session:
            rows = session.execute(
                select(Subscription.id, Subscriber.email)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscription.active)
            )
            return {sub: email for sub, email in rows}

    def _frequencies(self) -> dict[int, tuple[str, str]]:
        from worker.core.models import Subscriber

        with self.runtime.sessions() as session:
            rows = session.execute(
                select(Subscription.id, Subscriber.email, Subscription.frequency).join(
                    Subscriber, Subscriber.id == Subscription.subscriber_id
                )
            )
            return {sub: (email, frequency) for sub, email, frequency in rows}


class InterleavingsToTheEnd(Interleavings):
    def teardown(self) -> None:
        try:
            self.check_nothing_lost()
        finally:
            super().teardown()


@pytest.mark.parametrize("examples", [15])
def test_random_interleavings_keep_both_promises(database_url: str, examples: int) -> None:
    DATABASE_URL["url"] = database_url
    case = InterleavingsToTheEnd.TestCase
    case.settings = settings(max_examples=examples, stateful_step_count=14, deadline=None,
                             suppress_health_check=list(HealthCheck))  # fmt: skip
    case().runTest()
