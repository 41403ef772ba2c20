"""`GET /openapi.json` and `GET /schema/events/<name>`: the HTTP contract, served from schema/.

The document is kept in `schema/openapi/openapi.v1.json` and refers to the
event schema by a relative reference (`../events/study-event.v1.json`), so
tools reading the repository resolve it on disk. Served at /openapi.json,
that reference would resolve to /events/…, so the document's references to
files are rewritten to where this app serves the same files
(`/schema/events/…`): the event schema is referenced, never copied.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urljoin

import orjson
from flask import Blueprint, Response, abort

from worker.core.paths import schema_dir

blueprint = Blueprint("openapi", __name__)

DOCUMENT = "openapi/openapi.v1.json"
SERVED_AT = "/schema/"  # schema/<path> is served at /schema/<path>
EVENT_SCHEMAS = "events"


@blueprint.get("/openapi.json")
def document() -> Response:
    return Response(served_document(), mimetype="application/json")


@blueprint.get("/schema/events/<name>")
def event_schema(name: str) -> Response:
    folder = schema_dir() / EVENT_SCHEMAS
    if name not in {path.name for path in folder.glob("*.json")}:
        abort(404, description=f"no event schema {name[:100]!r}")
    return Response((folder / name).read_bytes(), mimetype="application/json")


@cache
def served_document() -> bytes:
    """The document with each reference to a file made relative to this server's root."""
    document = orjson.loads((schema_dir() / DOCUMENT).read_bytes())
    return orjson.dumps(_served_refs(document, urljoin(SERVED_AT, DOCUMENT)))


def _served_refs(node: Any, base: str) -> Any:
    if isinstance(node, dict):
        return {
            key: urljoin(base, value)
            if key == "$ref" and isinstance(value, str) and not value.startswith("#")
            else _served_refs(value, base)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_served_refs(item, base) for item in node]
    return node
