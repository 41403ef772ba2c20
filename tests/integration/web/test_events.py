"""`POST /events`: CloudEvents over HTTP into the same publish path as the CLI.

Structured (one event) and batch (an array) content modes, a bearer token,
202 with counts, 400 naming each rejected event (dead-lettered, the rest
still taken), 401 without the token, 413 past the body limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import INGEST_TOKEN, _truncate, make_runtime
from tests.support import event, record
from worker.core.models import DeadLetter, ReceivedEvent, Study
from worker.core.runtime import Runtime
from worker.queue.actors import install
from worker.queue.runner import run_until_idle
from worker.web.app import create_app
from worker.web.events import MAX_BODY_BYTES

TOKEN = INGEST_TOKEN
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"


@pytest.fixture
def client(ingest_runtime: Runtime) -> FlaskClient:
    return create_app(ingest_runtime).test_client()


def _post(client: FlaskClient, body: Any, content_type: str = BATCH, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post("/events", data=data, content_type=content_type, headers={**AUTH, **headers})


def _count(runtime: Runtime, table: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_batch_is_accepted_and_then_ingested(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    batch = [event(record(name), f"h-{name}") for name in ("NCT04267848", "NCT02513394")]
    answer = _post(client, batch)
    assert answer.status_code == 202
    assert answer.json == {"accepted": 2, "duplicates": 0, "rejected": []}
    with ingest_runtime.sessions() as session:
        assert set(session.scalars(select(ReceivedEvent.outcome))) == {"pending"}
    run_until_idle(ingest_runtime)
    with ingest_runtime.sessions() as session:
        assert set(session.scalars(select(Study.nct_id))) == {"NCT04267848", "NCT02513394"}


def test_one_structured_event_and_its_repeat(ingest_runtime: Runtime, client: FlaskClient) -> None:
    one = event(record("NCT04267848"), "s-1")
    first = _post(client, one, STRUCTURED)
    assert (first.status_code, first.json["accepted"]) == (202, 1)
    again = _post(client, one, "application/json; charset=utf-8")
    assert again.status_code == 202
    assert again.json == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert _count(ingest_runtime, ReceivedEvent) == 1


def test_bad_events_are_named_and_dead_lettered_while_the_rest_go_in(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    good = event(record("NCT04267848"), "m-1")
    no_source = {key: value for key, value in event(record("NCT02513394"), "m-2").items()}
    del no_source["source"]
    wrong_subject = event(record("NCT02210780"), "m-3", subject="NCT00000001")
    answer = _post(client, [good, no_source, "not an event", wrong_subject])
    assert answer.status_code == 400
    body = answer.json
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    rejected = body["rejected"]
    assert [(item["index"], item["id"]) for item in rejected] == [
        (1, "m-2"),
        (2, None),
        (3, "m-3"),
    ]
    assert "source" in rejected[0]["reason"]
    assert "expected a JSON object" in rejected[1]["reason"]
    assert "does not match" in rejected[2]["reason"]
    assert "accepted" in body["note"]
    with ingest_runtime.sessions() as session:
        letters = session.execute(select(DeadLetter.origin, DeadLetter.event_id)).all()
    assert sorted(letters, key=str) == sorted(
        [("http", "m-2"), ("http", None), ("http", "m-3")], key=str
    )
    assert _count(ingest_runtime, ReceivedEvent) == 1


def test_unreadable_or_misshapen_bodies_are_rejected_with_a_reason(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    broken = _post(client, b'[{"id": ', BATCH)
    assert broken.status_code == 400
    assert broken.json["rejected"][0]["index"] is None
    assert "not valid JSON" in broken.json["rejected"][0]["reason"]
    single_as_batch = _post(client, event(record("NCT04267848"), "x-1"), BATCH)
    assert single_as_batch.status_code == 400
    assert "needs a JSON array" in single_as_batch.json["rejected"][0]["reason"]
    array_as_structured = _post(client, [event(record("NCT04267848"), "x-2")], STRUCTURED)
    assert array_as_structured.status_code == 400
    assert _count(ingest_runtime, ReceivedEvent) == 0
    assert _count(ingest_runtime, DeadLetter) == 3


def test_an_empty_batch_is_fine(client: FlaskClient) -> None:
    answer = _post(client, [])
    assert answer.status_code == 202
    assert answer.json == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_without_a_valid_bearer_token_nothing_is_read(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    body = orjson.dumps([event(record("NCT04267848"), "t-1")])
    attempts = [
        client.post("/events", data=body, content_type=BATCH),
        client.post("/events", data=body, content_type=BATCH, headers={"Authorization": TOKEN}),
        client.post(
            "/events", data=body, content_type=BATCH, headers={"Authorization": "Bearer nope"}
        ),
        client.post(
            "/events",
            data=body,
            content_type=BATCH,
            headers={"Authorization": f"Basic {TOKEN}"},
        ),
    ]
    assert [answer.status_code for answer in attempts] == [401] * 4
    assert attempts[0].headers["WWW-Authenticate"].startswith("Bearer")
    assert _count(ingest_runtime, ReceivedEvent) == _count(ingest_runtime, DeadLetter) == 0


def test_without_a_configured_token_the_endpoint_is_off(runtime: Runtime) -> None:
    client = create_app(runtime).test_client()
    answer = client.post("/events", json=[], headers=AUTH)
    assert answer.status_code == 503
    assert "TRIALALERTS_INGEST_TOKEN" in answer.get_json()["error"]


def test_other_content_types_and_oversized_bodies_are_refused(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    assert _post(client, b"id=1", "application/x-www-form-urlencoded").status_code == 415
    too_big = _post(client, b"[" + b" " * MAX_BODY_BYTES + b"]")
    assert too_big.status_code == 413 and "error" in too_big.json
    assert _count(ingest_runtime, DeadLetter) == 0
    assert client.get("/events").status_code == 405


def test_with_redis_the_ingest_workers_are_woken(
    pg_url: str, redis_url: str, tmp_path: Path, stub_broker: StubBroker
) -> None:
    _truncate(pg_url)
    runtime = make_runtime(pg_url, tmp_path, ingest_token=TOKEN, broker_url=redis_url)
    broker = install(RedisBroker(url=redis_url))
    try:
        client = create_app(runtime).test_client()
        answer = _post(client, [event(record("NCT04267848"), "r-1")])
        assert answer.status_code == 202
        queued: list[bytes] = redis.Redis.from_url(redis_url).hvals("dramatiq:ingest.msgs")  # type: ignore[assignment]
        [message] = [Message.decode(raw) for raw in queued]
        with runtime.sessions() as session:
            stored = list(session.scalars(select(ReceivedEvent.id)))
        assert (message.actor_name, message.args) == ("events.ingest", (stored,))
    finally:
        broker.close()
        install(stub_broker)
        runtime.close()
