"""`POST /events`: the CloudEvents HTTP binding, three content modes, bearer token.

Structured (`application/cloudevents+json`, one event), batched
(`application/cloudevents-batch+json`, an array) and binary (attributes in
`ce-*` headers, the study as `application/json` or no body for a removal;
see `worker.web.binary_mode`). `application/json` without `ce-*` headers is
read as structured (or batched, for an array), as it always was.

Events go through the same publish path as `trialalerts publish`: stored
once per (source, id), bad ones dead-lettered with their reason, ingest
woken after commit. The answer counts what happened: 202 when every event
was taken, 400 naming each rejected one (the valid ones in the same request
are still taken, and the body says so).

Without TRIALALERTS_INGEST_TOKEN the endpoint is off and answers 503.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, request

from worker.core.runtime import Runtime
from worker.ingest.events import RawItem
from worker.ingest.publish import PublishReport, publish_items
from worker.queue.broker import enqueue
from worker.web.binary_mode import Refused, attribute_headers, binary_item
from worker.web.security import bearer_token_ok
from worker.web.support import current_runtime

blueprint = Blueprint("events", __name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
ORIGIN = "http"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
PLAIN_JSON = "application/json"


@blueprint.before_request
def _allow_large_bodies() -> None:
    request.max_content_length = MAX_BODY_BYTES


@blueprint.post("/events")
def receive() -> Response:
    runtime = current_runtime()
    expected = runtime.settings.ingest_token
    if expected is None:
        return _answer({"error": "event ingest over HTTP is off: TRIALALERTS_INGEST_TOKEN"}, 503)
    if not bearer_token_ok(request.headers.get("Authorization"), expected):
        response = _answer({"error": "a valid bearer token is required"}, 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="events"'
        return response
    try:
        items = request_items()
    except Refused as refused:
        return _answer({"error": refused.message}, refused.status)
    report = publish_items(
        runtime.sessions,
        items,
        ORIGIN,
        runtime.now,
        _wake_ingest(runtime),
        runtime.settings.ingest_batch_size,
    )
    body = report_body(report, items)
    return _answer(body, 400 if report.rejections else 202)


def request_items() -> list[RawItem]:
    """The events of the request in whichever content mode it is; `Refused` when in none."""
    mode = request.mimetype
    ce_headers = attribute_headers(request.headers.items())
    if mode in (STRUCTURED, BATCH) and ce_headers:
        names = ", ".join(sorted({name for name, _ in ce_headers})[:4])
        raise Refused(
            400,
            f"{mode} carries whole events in the body, yet the request has {names}: "
            "ce-* headers belong to binary mode, send one mode or the other",
        )
    if mode in (STRUCTURED, BATCH) or (mode == PLAIN_JSON and not ce_headers):
        return body_items(request.get_data(cache=False), mode)
    if ce_headers:
        return [binary_item(ce_headers, mode, request.get_data(cache=False))]
    raise Refused(
        415,
        f"unsupported content type {mode or 'none'!r}: send structured mode ({STRUCTURED}), "
        f"batched mode ({BATCH}) or binary mode (ce-specversion, ce-id, ce-source and ce-type "
        f"headers, the study as {PLAIN_JSON}, no body for a removal)",
    )


def body_items(body: bytes, mode: str) -> list[RawItem]:
    """The request's events as positioned items; an unreadable body is one bad item."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        text = body.decode("utf-8", errors="replace")
        return [RawItem("body", None, None, text, f"not valid JSON ({error})")]
    if isinstance(value, list) and mode != STRUCTURED:
        return [RawItem(f"event {index}", None, event) for index, event in enumerate(value)]
    if mode == BATCH:
        return [RawItem("body", None, value, None, f"{BATCH} needs a JSON array of events")]
    return [RawItem("event 0", None, value)]


def report_body(report: PublishReport, items: list[RawItem]) -> dict[str, Any]:
    """Counts, and each rejection with its position in the request and its event id.

    `index` is the event's 0-based position in a batch (0 for a single event),
    null when the body as a whole was unreadable.
    """
    positions = {item.where: index for index, item in enumerate(items) if item.where != "body"}
    rejected = [
        {
            "index": positions.get(rejection.where),
            "id": rejection.event_id,
            "reason": rejection.reason,
        }
        for rejection in report.rejections
    ]
    body: dict[str, Any] = {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "rejected": rejected,
    }
    if rejected:
        body["note"] = (
            "rejected events were kept as dead letters; the other events of this request "
            "were accepted and need not be sent again"
        )
    return body


def _wake_ingest(runtime: Runtime) -> Any:
    """Wake the ingest workers; embedded, the rows wait for `trialalerts run`."""
    if runtime.settings.is_embedded:
        return lambda ids: None
    return lambda ids: enqueue(runtime.settings, "events.ingest", ids)


def _answer(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response
