"""The WSGI app `worker.web:app`: pages, events, SES feedback, health, OpenAPI, the admin console.

`create_app` wires the blueprints; each lives in its own module. Building the
app opens nothing: the runtime (settings, database, sender) is taken per
request from the one given, or else from the environment on first use, so
gunicorn can import `worker.web:app` before any service is up.

A configuration error found then (a bad variable, an unusable key file)
answers 503 naming the problem, never a traceback and never a page signed
with a bad key; `trialalerts web` checks the configuration before it starts
gunicorn, and refuses to start on an error (exit 2).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from jinja2 import StrictUndefined
from werkzeug.exceptions import HTTPException

from worker.core.config import ConfigError
from worker.core.paths import templates_dir
from worker.core.runtime import Runtime
from worker.feedback.sns import HttpsSnsLinks, SnsLinks
from worker.web import admin, events, health, openapi, preferences, signup, sns, unsubscribe
from worker.web.security import add_security_headers
from worker.web.support import RUNTIME_KEY, page, runtime_provider

log = logging.getLogger(__name__)

# Pages take small forms; /events and /ses/sns raise their own limits.
MAX_FORM_BYTES = 64 * 1024
JSON_PATHS = ("/events", "/healthz", "/ses/", "/openapi.json", "/schema/")


def create_app(
    runtime: Runtime | None = None,
    *,
    trusted_proxies: int | None = None,
    sns_links: SnsLinks | None = None,
) -> Flask:
    """The app; `runtime` pins one (tests), else the environment's is built on first request.

    `trusted_proxies`: how many reverse proxies in front append to
    X-Forwarded-For (0: the peer address is the client), for sign-up limits;
    None: TRIALALERTS_TRUSTED_PROXIES. `sns_links` follows SNS's certificate
    and SubscribeURL links for `POST /ses/sns` (tests give their own); by
    default over HTTPS, to SNS's hosts only.
    """
    app = Flask("worker.web", template_folder=str(templates_dir() / "web"), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.config["TRUSTED_PROXIES"] = trusted_proxies
    app.extensions[RUNTIME_KEY] = runtime_provider(runtime)
    app.extensions[sns.SNS_LINKS_KEY] = sns_links or HttpsSnsLinks()
    app.jinja_env.undefined = StrictUndefined
    for module in (unsubscribe, preferences, signup, events, sns, health, openapi, admin):
        app.register_blueprint(module.blueprint)
    app.after_request(add_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ConfigError, _config_error)
    return app


def _http_error(error: HTTPException) -> Response:
    """Errors as JSON on the API paths, as a plain page everywhere else."""
    status = error.code or 500
    if request.path.startswith(JSON_PATHS):
        response = jsonify({"error": error.description})
        response.status_code = status
    else:
        response = page("error.html", status, title=error.name, description=error.description)
    for name, value in error.get_headers():  # e.g. Allow on 405
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _config_error(error: ConfigError) -> Response:
    """503 naming the setting to fix (messages name variables and files, never secrets)."""
    log.error("configuration error: %s", error)
    description = f"The service is not configured correctly: {error}"
    if request.path.startswith(JSON_PATHS):
        response = jsonify({"error": description})
        response.status_code = 503
        return response
    return page("error.html", 503, title="Service unavailable", description=description)


app = create_app()
