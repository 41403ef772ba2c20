"""Fuzzing the web app: whatever arrives, never a 500, GET never changes state, every
rejected event has a reason and nothing accepted is lost."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from tests.conftest import make_runtime
from tests.fuzz.test_fuzz_events import JSON, mutated_events
from tests.integration.pipeline_helpers import subscribe
from worker.core.models import DeadLetter, ReceivedEvent, Signup, Subscription
from worker.core.runtime import Runtime, set_runtime
from worker.queue.actors import install
from worker.web.app import create_app

TOKEN = "ingest-token-for-fuzzing-0123456789"


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TOKENS = st.one_of(
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from(["eyJzIjoxfQ.AAAA", "a.b", ".", "..", "x" * 500]),
)
PATHS = ["/u/{}", "/u/s/{}", "/u/all/{}", "/preferences/{}", "/confirm/{}"]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, FlaskClient]]:
    path: Path = tmp_path_factory.mktemp("web-fuzz")
    runtime = make_runtime(f"sqlite:///{path / 'web.db'}", path, ingest_token=TOKEN)
    set_runtime(runtime)
    install(StubBroker())
    subscribe(
        runtime, [{"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"}]
    )
    yield runtime, create_app(runtime).test_client()
    set_runtime(None)
    runtime.close()


def _active(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Subscription).where(Subscription.active.is_(True))
            )
            or 0
        )


@SETTINGS
@given(path=st.sampled_from(PATHS), token=TOKENS, post=st.booleans())
def test_forged_tokens_never_crash_and_never_change_anything(
    web: tuple[Runtime, FlaskClient], path: str, token: str, post: bool
) -> None:
    runtime, client = web
    url = path.format(token)
    response = client.post(url, data={"List-Unsubscribe": "One-Click"}) if post else client.get(url)
    assert response.status_code < 500
    if post:
        assert response.status_code >= 400
    assert _active(runtime) == 1


@SETTINGS
@given(
    purpose=st.sampled_from(
        ["unsubscribe-stream", "unsubscribe-subscription", "unsubscribe-all", "preferences"]
    ),
    payload=st.dictionaries(st.sampled_from(["s", "f", "sub", "p"]), JSON, max_size=3),
)
def test_well_signed_tokens_with_odd_payloads_are_refused_cleanly(
    web: tuple[Runtime, FlaskClient], purpose: str, payload: dict
) -> None:
    runtime, client = web
    signer = URLSafeSerializer(
        list(reversed(runtime.settings.secret_keys)),
        salt=purpose,
        signer_kwargs={"digest_method": hashlib.sha256},
    )
    token = signer.dumps(payload)  # validly signed, shaped as no token we make
    prefix = {
        "unsubscribe-stream": "/u/",
        "unsubscribe-subscription": "/u/s/",
        "unsubscribe-all": "/u/all/",
        "preferences": "/preferences/",
    }[purpose]
    assert client.get(prefix + token).status_code < 500
    assert _active(runtime) == 1


@SETTINGS
@given(
    body=st.one_of(
        st.lists(mutated_events(), max_size=4).map(_dumps),
        mutated_events().map(_dumps),
        JSON.map(_dumps),
        st.binary(max_size=200),
    ),
    content_type=st.sampled_from(
        [
            "application/cloudevents-batch+json",
            "application/cloudevents+json",
            "application/json",
            "text/plain",
        ]
    ),
)
def test_any_event_body_is_taken_or_refused_with_reasons_never_a_500(
    web: tuple[Runtime, FlaskClient], body: bytes, content_type: str
) -> None:
    runtime, client = web
    with runtime.sessions() as session:
        before = (
            session.scalar(select(func.count()).select_from(ReceivedEvent)),
            session.scalar(select(func.count()).select_from(DeadLetter)),
        )
    response = client.post(
        "/events",
        data=body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code in (202, 400, 413, 415), response.data[:300]
    answer = response.get_json(silent=True) or {}
    for rejected in answer.get("rejected", []):
        assert rejected["reason"].strip()
    with runtime.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(ReceivedEvent))
        kept = session.scalar(select(func.count()).select_from(DeadLetter))
    accepted = answer.get("accepted", 0)
    assert stored - before[0] == accepted
    if answer.get("rejected"):
        assert kept >= before[1]


@SETTINGS
@given(
    form=st.dictionaries(
        st.sampled_from(["email", "condition", "nct_id", "frequency", "timezone", "csrf", "x"]),
        st.text(max_size=60),
        max_size=6,
    )
)
def test_any_signup_form_is_answered_without_a_500(
    web: tuple[Runtime, FlaskClient], form: dict
) -> None:
    runtime, client = web
    response = client.post("/signup", data=form)
    assert response.status_code < 500
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Signup)) is not None
