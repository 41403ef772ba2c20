"""Public sign-up and its double opt-in: the form, "check your inbox", the confirm page.

The sign-up answer never depends on the address (known, suppressed or over
its limit all read "check your inbox", and no mail is sent inside the
request, so neither can its timing); only a malformed request gets an
error, and it names the field: the form shows each message beside its
input (worker.web.alert_form) and records nothing. The emailed link leads
to a page with a button; the POST behind the button subscribes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for

from worker.core.tokens import LINK_KEY, BadToken, preferences_token, read_token
from worker.queue.pipeline import sign_up
from worker.subscriptions.signups import confirm_signup, parse_signup, signup_status
from worker.web.alert_form import Choices, form_values, input_errors, row_fields
from worker.web.security import client_address
from worker.web.support import current_runtime, database, page

blueprint = Blueprint("signup", __name__)

# The signature is checked here; whether the sign-up is still open is its row's
# `expires_at`, so an old link gets a clear "expired" page instead of "invalid".
SIGNATURE_ONLY = timedelta(days=3650)
CHECK_INBOX = (
    "If the address can receive alerts, an email with a confirmation link is on its way. "
    "Nothing starts until you click it."
)


@blueprint.get("/")
@blueprint.get("/signup")
def form() -> Response:
    return _form_page({}, {}, 200)


def _form_page(values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    return page("signup.html", status, values=values, errors=errors, choices=Choices())


# The inputs of the sign-up form beside the alert's own (worker.web.alert_form).
OWN_INPUTS = ("email", "condition", "nct_id", "timezone")


def _form_fields() -> tuple[dict[str, Any], dict[str, object], dict[str, str]]:
    """(what was typed, the sign-up fields it gives, errors found before parse_signup)."""
    values = form_values(request.form)
    values |= {name: (request.form.get(name) or "").strip() for name in OWN_INPUTS}
    fields, errors = row_fields(values)
    fields |= {name: values[name] for name in OWN_INPUTS if values[name]}
    return values, fields, errors


@blueprint.post("/signup")
def submit() -> Response:
    runtime = current_runtime()
    as_json = request.is_json
    if as_json:
        fields = request.get_json(silent=True)
        if not isinstance(fields, dict):
            return _json_error("expected a JSON object with email and condition or nct_id", 400)
    else:
        values, fields, errors = _form_fields()
        try:
            parse_signup(fields)
        except ValueError as error:
            errors = input_errors(error) | errors
        if errors:
            return _form_page(values, errors, 400)
    proxies = current_app.config["TRUSTED_PROXIES"]
    if proxies is None:
        proxies = runtime.settings.trusted_proxies
    client = client_address(request, proxies)
    try:
        sign_up(fields, client, runtime)
    except ValueError as error:
        if as_json:
            return _json_error(str(error), 400)
        return _form_page(values, input_errors(error), 400)
    if as_json:
        return _json({"status": "check-your-inbox", "message": CHECK_INBOX}, 202)
    return redirect(url_for("signup.sent"), code=303)  # type: ignore[return-value]


@blueprint.get("/signup/sent")
def sent() -> Response:
    return page("signup_sent.html", message=CHECK_INBOX)


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Response:
    runtime = current_runtime()
    keys = runtime.settings.secret_keys
    now = runtime.now()
    try:
        payload = read_token(keys, "confirm", token, SIGNATURE_ONLY, now=now)
    except BadToken:
        return page("invalid_link.html", 400)
    signup_id, link_key = payload["p"], payload.get(LINK_KEY)
    posted = request.method == "POST"
    with database(runtime, write=posted) as session:
        if posted:
            status = confirm_signup(session, signup_id, now, link_key, runtime.settings.send_hour)
        else:
            status = signup_status(session, signup_id, now, link_key)
    if status.state in ("expired", "missing"):
        return page("signup_expired.html", 410)
    if status.state == "pending":
        return page("confirm.html", target=status.target)
    preferences = None
    if status.subscriber_id is not None and status.subscriber_link_key is not None:
        token = preferences_token(keys, status.subscriber_id, status.subscriber_link_key)
        preferences = url_for("preferences.show", token=token)
    return page(
        "confirmed.html", target=status.target, preferences_url=preferences, just_now=posted
    )


def _json(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _json_error(message: str, status: int) -> Response:
    return _json({"error": message}, status)
