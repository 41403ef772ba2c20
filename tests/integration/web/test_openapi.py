"""The OpenAPI document: valid 3.1, true to every public route, and served by the app.

`schemathesis` generates requests from the document and sends them to the
app in-process (WSGI): no answer may be a 5xx, and none may break the
document (status, content type, headers, body schema).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
import schemathesis
from dramatiq.brokers.stub import StubBroker
from flask import Flask
from hypothesis import HealthCheck, settings
from jsonschema import Draft7Validator
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_runtime
from tests.sns_support import CERT_URL, TOPIC, FakeSnsLinks, SnsSigner
from worker.core.paths import schema_dir
from worker.core.runtime import Runtime, set_runtime
from worker.queue.actors import install
from worker.web.app import create_app

DOCUMENT = schema_dir() / "openapi" / "openapi.v1.json"
EVENT_SCHEMA = schema_dir() / "events" / "study-event.v1.json"
TOKEN = "ingest-token-for-tests-0123456789"
METHODS = {"get", "post", "put", "patch", "delete"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _pointer(document: Any, fragment: str) -> Any:
    for part in filter(None, fragment.split("/")):
        document = document[part]
    return document


def test_the_document_is_valid_openapi_3_1() -> None:
    spec, base = read_from_filename(str(DOCUMENT))
    assert spec["openapi"].startswith("3.1")
    validate(spec, base_uri=base)


def test_the_event_schema_is_referenced_not_copied() -> None:
    spec = json.loads(DOCUMENT.read_text())
    files = [ref for ref in _refs(spec) if not ref.startswith("#")]
    assert files and {urldefrag(ref).url for ref in files} == {"../events/study-event.v1.json"}
    event_schema = json.loads(EVENT_SCHEMA.read_text())
    Draft7Validator.check_schema(event_schema)
    for ref in files:
        assert _pointer(event_schema, urldefrag(ref).fragment) is not None
    for ref in _refs(spec):
        if ref.startswith("#"):
            assert _pointer(spec, ref[1:]) is not None
    assert "protocolSection" not in DOCUMENT.read_text()  # nothing of the event schema copied


def test_every_public_route_is_in_the_document(runtime: Runtime) -> None:
    paths = json.loads(DOCUMENT.read_text())["paths"]
    documented = {
        (path, method) for path, item in paths.items() for method in item if method in METHODS
    }
    app = create_app(runtime)
    routed = {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
        and not rule.rule.startswith("/admin")  # the console: pages behind a login, no API
    }
    assert routed == documented


def test_the_served_document_points_at_the_served_event_schema(runtime: Runtime) -> None:
    client = create_app(runtime).test_client()
    answer = client.get("/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    served = answer.json
    assert served["paths"].keys() == json.loads(DOCUMENT.read_text())["paths"].keys()
    for ref in {urldefrag(ref).url for ref in _refs(served) if not ref.startswith("#")}:
        resolved = urljoin("http://localhost/openapi.json", ref)
        assert resolved == "http://localhost/schema/events/study-event.v1.json"
        schema = client.get(ref)
        assert schema.status_code == 200 and schema.json == json.loads(EVENT_SCHEMA.read_text())
    missing = client.get("/schema/events/nope.json")
    assert missing.status_code == 404 and "nope.json" in missing.json["error"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app on a SQLite file for the whole generated run, with ingest and SNS switched on."""
    folder = tmp_path_factory.mktemp("openapi")
    runtime = make_runtime(
        f"sqlite:///{folder / 'trialalerts.db'}",
        folder,
        ingest_token=TOKEN,
        sns_topic_arns=(TOPIC,),
    )
    broker = StubBroker()
    install(broker)
    set_runtime(runtime)
    yield create_app(runtime, sns_links=FakeSnsLinks({CERT_URL: SnsSigner().certificate}))
    set_runtime(None)
    broker.close()
    runtime.close()


schema = schemathesis.openapi.from_path(DOCUMENT)
# No 5xx, and every answer as documented. Not "schema-valid data is accepted":
# a well-formed but forged link token, or an event whose subject is not its
# data's nctId, is schema-valid and rightly refused.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_no_5xx_and_answers_that_keep_the_document(
    case: Any, app: Flask
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if case.path == "/events" else None
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)
