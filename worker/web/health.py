"""`GET /healthz`: can this process reach its database, its broker and the shared Redis?

200 with each part "ok" when all answer; 503 naming the part that does not
("unreachable"), or the configuration error that keeps the app from
starting. Without a broker URL the broker is the in-process one, "ok"
by definition; with one, Redis must answer PING or RabbitMQ take a
connection. A Redis apart from the broker (TRIALALERTS_REDIS_URL: always
beside RabbitMQ) is a part of its own, "redis".
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from worker.core.config import ConfigError
from worker.core.runtime import Runtime
from worker.queue.broker import ping
from worker.web.support import current_runtime

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)

TIMEOUT_SECONDS = 2.0


def database_status(runtime: Runtime) -> str:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means "not healthy"
        log.warning("health: database unreachable: %s", error)
        return "unreachable"
    return "ok"


def reachable(url: str | None, part: str) -> str:
    if url is None:
        return "ok"
    try:
        ping(url, TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - any failure means "not healthy"
        log.warning("health: %s unreachable: %s", part, error)
        return "unreachable"
    return "ok"


@blueprint.get("/healthz")
def healthz() -> Response:
    try:
        runtime = current_runtime()
    except ConfigError as error:  # named, without a traceback
        log.error("health: configuration error: %s", error)
        return _unknown(f"configuration error: {error}")
    except Exception:  # noqa: BLE001 - a runtime that cannot be built is unhealthy
        log.exception("health: the runtime could not be built")
        return _unknown("start-up failed")
    settings = runtime.settings
    body = {
        "database": database_status(runtime),
        "broker": reachable(settings.broker_url, "broker"),
    }
    if settings.redis_url not in (None, settings.broker_url):
        body["redis"] = reachable(settings.redis_url, "redis")
    healthy = all(state == "ok" for state in body.values())
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    return response


def _unknown(error: str) -> Response:
    response = jsonify({"database": "unknown", "broker": "unknown", "error": error})
    response.status_code = 503
    return response
