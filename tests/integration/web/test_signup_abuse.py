"""The public sign-up is no relay: strangers cannot mail their words, or many mails, to anyone.

Through the WSGI app and the queue on both databases. A condition is a
disease name (no links, addresses, phone numbers or invisible characters),
the confirmation subject is fixed text, the per-client limit counts an IPv6
/64 as one client, and the mail goes from the queue, once, so the answer and
its timing are the same for every address.
"""

from __future__ import annotations

import email
import email.policy
import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import TEST_KEY, make_runtime
from tests.integration.cli.test_cli import trialalerts
from tests.integration.web.test_signup import _confirm_path
from worker.core.models import Signup, Suppression
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.broker import drain, enqueue
from worker.queue.runner import wake_stranded
from worker.web.app import create_app

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
SUBJECT = "Confirm your clinical trial alerts"


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(NOW)
    return create_app(runtime).test_client()


def _outbox(runtime: Runtime) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(runtime.settings.outbox).glob("*.eml"))
    ]


def _signups(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Signup)) or 0


HOSTILE = [
    "asthma. ACTION REQUIRED: your account is locked, verify at https://evil.example/login",
    "asthma. ACTION REQUIRED: verify at evil.example/login",
    "asthma www.evil.example",
    "asthma, write to help@evil.example",
    "asthma, call +1 (555) 010-0199 now",
    "asthma\u202e nigol/elpmaxe.live",  # right-to-left override
    "asth\u200bma",  # zero-width space
    "asthma " + "please read this " * 10,
]


@pytest.mark.parametrize("condition", HOSTILE)
def test_a_condition_that_is_no_disease_name_is_refused_inline_with_no_mail_and_no_row(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient, condition: str
) -> None:
    fields = {"email": "victim@example.org", "condition": condition}
    form = client.post("/signup", data=fields)
    assert form.status_code == 400
    page = html.unescape(form.get_data(as_text=True))
    assert "condition" in page and 'name="condition"' in page  # the form again, with the reason
    api = client.post("/signup", json=fields)
    assert api.status_code == 400 and api.json is not None
    assert api.json["error"].startswith("condition ")
    drain(stub_broker)
    assert _outbox(runtime) == [] and _signups(runtime) == 0


def test_the_subject_is_fixed_text_and_the_body_names_the_condition_escaped(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    client.post("/signup", data={"email": "ada@example.org", "condition": "Crohn's <disease>"})
    drain(stub_broker)
    [message] = _outbox(runtime)
    assert message["Subject"] == SUBJECT
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    assert "Crohn&#39;s &lt;disease&gt;" in body.get_content()


def test_one_ipv6_slash_64_is_one_client(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    for number in range(25):
        client.post(
            "/signup",
            data={"email": f"p{number}@example.org", "condition": "melanoma"},
            environ_base={"REMOTE_ADDR": f"2001:db8:1:2:{number:x}::{number + 1:x}"},
        )
    drain(stub_broker)
    assert len(_outbox(runtime)) == 20  # the per-client limit of an hour
    client.post(
        "/signup",
        data={"email": "other@example.org", "condition": "melanoma"},
        environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"},  # the next /64: another client
    )
    drain(stub_broker)
    assert len(_outbox(runtime)) == 21


def test_an_ipv4_address_counts_the_same_written_as_ipv6(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    for number in range(21):
        written = "203.0.113.7" if number % 2 else "::ffff:203.0.113.7"
        client.post(
            "/signup",
            data={"email": f"p{number}@example.org", "condition": "melanoma"},
            environ_base={"REMOTE_ADDR": written},
        )
    drain(stub_broker)
    assert len(_outbox(runtime)) == 20


def test_plus_tags_do_not_multiply_the_mails_one_mailbox_gets(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    for tag in ("", "+1", "+2", "+a_b", "+x%y"):
        client.post("/signup", data={"email": f"victim{tag}@example.org", "condition": "melanoma"})
    client.post("/signup", data={"email": "victimx@example.org", "condition": "melanoma"})
    drain(stub_broker)
    assert sorted(message["To"] for message in _outbox(runtime)) == [
        "victim+1@example.org",
        "victim+2@example.org",
        "victim@example.org",  # 3 a day for one mailbox
        "victimx@example.org",  # another mailbox
    ]


def test_a_port_in_x_forwarded_for_is_not_a_new_client(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    runtime.clock = fixed_clock(NOW)
    client = create_app(runtime, trusted_proxies=1).test_client()
    for number in range(25):
        client.post(
            "/signup",
            data={"email": f"p{number}@example.org", "condition": "melanoma"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
            headers={"X-Forwarded-For": f"203.0.113.7:{40000 + number}"},
        )
    drain(stub_broker)
    assert len(_outbox(runtime)) == 20


def test_no_mail_goes_inside_the_request_and_every_address_gets_the_same_answer(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    with runtime.sessions() as session, session.begin():
        session.add(Suppression(email="bounced@example.org", reason="bounce", created_at=NOW))
    answers = set()
    for address in ("new@example.org", "bounced@example.org"):
        form = client.post("/signup", data={"email": address, "condition": "melanoma"})
        api = client.post("/signup", json={"email": address, "condition": "melanoma"})
        answers.add((form.status_code, form.headers["Location"], api.status_code, api.data))
        assert _outbox(runtime) == []  # nothing sent while the requester waits
    assert len(answers) == 1
    drain(stub_broker)
    assert sorted(message["To"] for message in _outbox(runtime)) == ["new@example.org"] * 2


def test_a_repeated_wake_up_mails_once(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    client.post("/signup", data={"email": "ada@example.org", "condition": "melanoma"})
    with runtime.sessions() as session:
        [signup_id] = session.scalars(select(Signup.id)).all()
    for _ in range(3):
        enqueue(runtime.settings, "signups.mail", [signup_id])
    drain(stub_broker)
    assert wake_stranded(runtime, None) == 0  # mailed: nothing left to re-wake
    drain(stub_broker)
    [message] = _outbox(runtime)
    with runtime.sessions() as session:
        assert session.scalars(select(Signup.mailed_at)).all() == [NOW]
    assert client.post(_confirm_path(message)).status_code == 200


def test_an_address_suppressed_before_the_mail_goes_gets_none(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    client.post("/signup", data={"email": "ada@example.org", "condition": "melanoma"})
    with runtime.sessions() as session, session.begin():
        session.add(Suppression(email="ada@example.org", reason="complaint", created_at=NOW))
    drain(stub_broker)
    assert _outbox(runtime) == []
    assert wake_stranded(runtime, None) == 0  # closed, not retried


def test_a_lost_wake_up_is_found_by_the_reconciler_after_the_grace(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    client.post("/signup", data={"email": "ada@example.org", "condition": "melanoma"})
    stub_broker.flush_all()  # Redis lost the message
    grace = timedelta(minutes=1)
    assert wake_stranded(runtime, grace) == 0  # too young: its message may still come
    runtime.clock = fixed_clock(NOW + timedelta(minutes=2))
    assert wake_stranded(runtime, grace) == 1
    drain(stub_broker)
    assert [message["To"] for message in _outbox(runtime)] == ["ada@example.org"]


def test_an_address_outside_ascii_is_refused_at_the_door_an_idn_domain_is_mailed(
    runtime: Runtime, stub_broker: StubBroker, client: FlaskClient
) -> None:
    refused = client.post("/signup", json={"email": "ädä@example.org", "condition": "melanoma"})
    assert refused.status_code == 400 and refused.json is not None
    assert "letters outside ASCII before the @" in refused.json["error"]
    assert "SMTPUTF8" not in refused.json["error"]
    form = client.post("/signup", data={"email": "ädä@example.org", "condition": "melanoma"})
    assert form.status_code == 400
    assert "letters outside ascii" in html.unescape(form.get_data(as_text=True)).lower()
    accepted = client.post("/signup", json={"email": "Ada@Bücher.de", "condition": "melanoma"})
    assert accepted.status_code == 202
    drain(stub_broker)
    assert [message["To"] for message in _outbox(runtime)] == ["ada@xn--bcher-kva.de"]


def test_run_until_idle_sends_the_confirmations_the_web_app_left(
    database_url: str, tmp_path: Path
) -> None:
    """Embedded mode: the web process has no worker; `trialalerts run --until-idle` mails."""
    runtime = make_runtime(database_url, tmp_path)
    try:
        client = create_app(runtime).test_client()
        fields = {"email": "ada@example.org", "condition": "melanoma"}
        assert client.post("/signup", data=fields).status_code == 303
        assert _outbox(runtime) == []
    finally:
        runtime.close()
    env = {
        "TRIALALERTS_DATABASE_URL": database_url,
        "TRIALALERTS_SECRET_KEY": TEST_KEY,
        "TRIALALERTS_OUTBOX": str(tmp_path / "outbox"),
    }
    run = trialalerts("run", "--until-idle", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    [message] = _outbox(runtime)
    assert message["To"] == "ada@example.org" and message["Subject"] == SUBJECT
    again = trialalerts("run", "--until-idle", cwd=tmp_path, env=env)
    assert again.returncode == 0 and len(_outbox(runtime)) == 1
