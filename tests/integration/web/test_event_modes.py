"""`POST /events` in the three CloudEvents content modes, with the official SDK as the client.

Binary mode (attributes in `ce-*` headers, the study as the body) meets the
same validation, dedupe, dead letters and answers as structured and batched
mode; a request in none of them gets 415 naming all three, and header/body
combinations that contradict each other get a 4xx naming the problem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import conversion as sdk1
from cloudevents.v1.http import CloudEvent as CloudEvent1
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import INGEST_TOKEN
from tests.support import record
from worker.core.models import DeadLetter, ReceivedEvent, Study
from worker.core.runtime import Runtime
from worker.queue.runner import run_until_idle
from worker.web.app import create_app

TOKEN = INGEST_TOKEN
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SOURCE = "https://clinicaltrials.gov"
UPDATED = "gov.clinicaltrials.study.updated"
REMOVED = "gov.clinicaltrials.study.removed"
JSON_FORMAT = JSONFormat()


@pytest.fixture
def client(ingest_runtime: Runtime) -> FlaskClient:
    return create_app(ingest_runtime).test_client()


def study_event(nct_id: str, event_id: str, **extra: Any) -> CloudEvent:
    attributes = {
        "type": UPDATED,
        "source": SOURCE,
        "id": event_id,
        "subject": nct_id,
        "time": datetime(2026, 6, 27, 9, 0, tzinfo=UTC),
        "datacontenttype": "application/json",
        **extra,
    }
    return CloudEvent(attributes=attributes, data=record(nct_id))


def send(client: FlaskClient, headers: dict[str, str], body: bytes | None) -> Any:
    return client.post("/events", data=body, headers={**AUTH, **headers})


def batch(*events: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Batched mode: the SDK has no batch writer, so its structured JSON goes into an array."""
    body = b"[" + b",".join(JSON_FORMAT.write(e) for e in events) + b"]"
    return {"Content-Type": "application/cloudevents-batch+json"}, body


def _count(runtime: Runtime, table: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def _stored(runtime: Runtime) -> dict[str, Any]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(ReceivedEvent.event_id, ReceivedEvent.type, ReceivedEvent.nct_id)
        ).all()
    return {row.event_id: (row.type, row.nct_id) for row in rows}


def test_the_sdk_in_all_three_modes_is_taken_and_ingested(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    binary = to_binary(study_event("NCT04267848", "b-1"), JSON_FORMAT)
    structured = to_structured(study_event("NCT02513394", "s-1"), JSON_FORMAT)
    answers = [
        send(client, binary.headers, binary.body),
        send(client, structured.headers, structured.body),
        send(client, *batch(study_event("NCT02210780", "a-1"), study_event("NCT04267848", "a-2"))),
    ]
    assert [(a.status_code, a.json["accepted"]) for a in answers] == [(202, 1), (202, 1), (202, 2)]
    assert _stored(ingest_runtime) == {
        "b-1": (UPDATED, "NCT04267848"),
        "s-1": (UPDATED, "NCT02513394"),
        "a-1": (UPDATED, "NCT02210780"),
        "a-2": (UPDATED, "NCT04267848"),
    }
    run_until_idle(ingest_runtime)
    with ingest_runtime.sessions() as session:
        assert set(session.scalars(select(Study.nct_id))) == {
            "NCT04267848",
            "NCT02513394",
            "NCT02210780",
        }


def test_a_binary_event_is_stored_as_the_structured_event_it_stands_for(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    sent = study_event("NCT04267848", "id with spaces, 100% and é", traceparent="00-4bf9-00f0-01")
    message = to_binary(sent, JSON_FORMAT)
    assert message.headers["ce-id"] != sent.get_id()  # percent-encoded on the way
    assert send(client, message.headers, message.body).status_code == 202
    with ingest_runtime.sessions() as session:
        payload = orjson.loads(session.scalar(select(ReceivedEvent.payload)) or "")
    assert payload["id"] == "id with spaces, 100% and é"
    assert payload["traceparent"] == "00-4bf9-00f0-01"  # extensions are kept
    assert payload["data"] == record("NCT04267848")
    assert (payload["datacontenttype"], payload["subject"]) == ("application/json", "NCT04267848")


def test_the_same_event_in_another_mode_is_a_duplicate(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    one = study_event("NCT04267848", "d-1")
    structured = to_structured(one, JSON_FORMAT)
    binary = to_binary(one, JSON_FORMAT)
    assert send(client, structured.headers, structured.body).json["accepted"] == 1
    again = send(client, binary.headers, binary.body)
    assert again.status_code == 202
    assert again.json == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert _count(ingest_runtime, ReceivedEvent) == 1


def test_a_binary_removal_has_no_body(ingest_runtime: Runtime, client: FlaskClient) -> None:
    removal = CloudEvent(
        attributes={"type": REMOVED, "source": SOURCE, "id": "r-1", "subject": "NCT04267848"}
    )
    message = to_binary(removal, JSON_FORMAT)
    assert message.body == b"" and "content-type" not in message.headers
    answer = send(client, message.headers, message.body)
    assert (answer.status_code, answer.json["accepted"]) == (202, 1)
    assert _stored(ingest_runtime) == {"r-1": (REMOVED, "NCT04267848")}


def test_the_1x_sdk_api_binary_mode_is_taken_too(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    """`cloudevents.v1` sends no Content-Type for dict data unless datacontenttype is set."""
    attributes = {"type": UPDATED, "source": SOURCE, "id": "v1-1", "subject": "NCT04267848"}
    headers, body = sdk1.to_binary(CloudEvent1(attributes, record("NCT04267848")))
    assert "content-type" not in headers
    assert send(client, headers, body).json == {"accepted": 1, "duplicates": 0, "rejected": []}
    headers, body = sdk1.to_structured(
        CloudEvent1({**attributes, "id": "v1-2"}, record("NCT04267848"))
    )
    assert send(client, headers, body).json == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_an_invalid_binary_event_is_dead_lettered_like_a_structured_one(
    ingest_runtime: Runtime, client: FlaskClient
) -> None:
    message = to_binary(study_event("NCT04267848", "bad-1"), JSON_FORMAT)
    no_type = {k: v for k, v in message.headers.items() if k != "ce-type"}
    missing = send(client, no_type, message.body)
    assert missing.status_code == 400
    [rejected] = missing.json["rejected"]
    assert rejected["index"] == 0 and "ce-type" in rejected["reason"]
    wrong_subject = send(client, {**message.headers, "ce-subject": "NCT00000001"}, message.body)
    assert wrong_subject.status_code == 400
    assert wrong_subject.json["rejected"] == [
        {
            "index": 0,
            "id": "bad-1",
            "reason": "subject 'NCT00000001' does not match data nctId 'NCT04267848'",
        }
    ]
    not_utf8 = send(client, message.headers, b'{"protocolSection": "\xff\xfe"}')
    assert not_utf8.status_code == 400
    assert "not JSON" in not_utf8.json["rejected"][0]["reason"]
    assert "UTF-8" in not_utf8.json["rejected"][0]["reason"]
    assert _count(ingest_runtime, ReceivedEvent) == 0
    with ingest_runtime.sessions() as session:
        reasons = list(session.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)))
    assert len(reasons) == 3 and "ce-type" in reasons[0]


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        pytest.param(
            lambda h, b: ({**h, "ce-id": "x-1"}, b),
            400,
            "ce-id",
            id="ce-id header with a structured body",
        ),
        pytest.param(
            lambda h, b: ({"Content-Type": "application/json", "ce-id": "x-1"}, b),
            400,
            "whole structured event",
            id="a structured event as binary data",
        ),
        pytest.param(
            lambda h, b: ({"ce-id": "x-1", "ce-subject": "N" * 100_000}, b""),
            431,
            "ce-subject",
            id="huge header",
        ),
        pytest.param(
            lambda h, b: ({"Content-Type": "text/plain", "ce-id": "x"}, b"hello"),
            415,
            "application/json",
            id="binary data that is not JSON",
        ),
        pytest.param(
            lambda h, b: ({"ce-id": "caf\xe9", "ce-type": REMOVED}, b""),
            400,
            "non-ASCII",
            id="raw non-ASCII header",
        ),
        pytest.param(
            lambda h, b: ({"ce-id": "caf%E9", "ce-type": REMOVED}, b""),
            400,
            "UTF-8",
            id="percent-encoded latin-1",
        ),
        pytest.param(
            lambda h, b: ({"ce-data": "{}", "ce-id": "x"}, b""),
            400,
            "ce-data",
            id="data in a header",
        ),
        pytest.param(
            lambda h, b: ({"ce-Not_A_Name": "1", "ce-id": "x"}, b""),
            400,
            "attribute names",
            id="not an attribute name",
        ),
        pytest.param(lambda h, b: ({}, b), 415, "binary mode", id="no content type, no ce-*"),
        pytest.param(
            lambda h, b: ({"Content-Type": "text/xml"}, b"<e/>"), 415, "batched mode", id="xml"
        ),
    ],
)
def test_contradictions_get_a_4xx_naming_the_problem_and_store_nothing(
    ingest_runtime: Runtime, client: FlaskClient, change: Any, status: int, named: str
) -> None:
    structured = to_structured(study_event("NCT04267848", "c-1"), JSON_FORMAT)
    headers, body = change(structured.headers, structured.body)
    answer = send(client, headers, body)
    assert answer.status_code == status
    assert named in answer.json["error"]
    assert _count(ingest_runtime, ReceivedEvent) == _count(ingest_runtime, DeadLetter) == 0
