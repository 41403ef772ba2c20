"""The preferences page: every subscription of one subscriber, to retime, stop or restart.

Reached by a signed link from any digest; the link works while its
subscriber's row holds the link key it was minted with. Each form carries a
token derived from the page's own link and must come from this site; a POST
answers with a redirect back to the page (so reloading never repeats it),
naming what was done.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, redirect, request, url_for
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.ids import parse_id
from worker.core.tokens import LINK_KEY, BadToken, read_token
from worker.subscriptions.preferences import (
    change_frequency,
    restart_subscription,
    stop_everything,
    stop_subscription,
)
from worker.subscriptions.unsubscribe import NothingToStop
from worker.subscriptions.views import FREQUENCY_LABELS, subscriber_view, subscription_views
from worker.web.security import form_token, form_token_ok, same_origin
from worker.web.support import current_runtime, database, page

blueprint = Blueprint("preferences", __name__)

FORM = "preferences"
ACTIONS = ("frequency", "stop", "restart", "stop-all")
NOTICES = {
    "frequency": "Saved: the alert will now come with its new frequency.",
    "stop": "Stopped: you will get no more emails for that alert.",
    "restart": "Restarted: the alert is on again.",
    "stop-all": "Stopped: you will get no more alert emails from us.",
    "unchanged": "Nothing changed: that was already so.",
}


def _subscriber_of(keys: tuple[str, ...], token: str) -> tuple[int, str | None] | None:
    """(subscriber id, link key) a preferences link names; None for a forged or altered link."""
    try:
        payload = read_token(keys, "preferences", token)
    except BadToken:
        return None
    return int(payload["s"]), payload.get(LINK_KEY)


@blueprint.get("/preferences/<token>")
def show(token: str) -> Response:
    runtime = current_runtime()
    keys = runtime.settings.secret_keys
    named = _subscriber_of(keys, token)
    if named is None:
        return page("invalid_link.html", 400)
    subscriber_id, link_key = named
    with database(runtime, write=False) as session:
        subscriber = subscriber_view(session, subscriber_id, link_key)
        if subscriber is None:
            return page("gone.html", 404)
        subscriptions = subscription_views(session, subscriber_id)
    return page(
        "preferences.html",
        subscriber=subscriber,
        subscriptions=subscriptions,
        frequencies=[(value, FREQUENCY_LABELS[value]) for value in FREQUENCIES],
        csrf_token=form_token(keys, FORM, token),
        notice=NOTICES.get(request.args.get("done", "")),
    )


@blueprint.post("/preferences/<token>")
def change(token: str) -> Response:
    runtime = current_runtime()
    keys = runtime.settings.secret_keys
    named = _subscriber_of(keys, token)
    if named is None:
        return page("invalid_link.html", 400)
    subscriber_id, link_key = named
    form = request.form
    if not same_origin(request, runtime.settings.base_url) or not form_token_ok(
        keys, FORM, token, form.get("csrf_token")
    ):
        return page("forbidden.html", 403)
    action = form.get("action", "")
    if action not in ACTIONS:
        return page("bad_request.html", 400, reason="Unknown action.")
    subscription_id = None
    if action != "stop-all":
        subscription_id = parse_id(form.get("subscription"))
        if subscription_id is None:
            return page("bad_request.html", 400, reason="No alert was chosen.")
    frequency = form.get("frequency", "")
    if action == "frequency" and frequency not in FREQUENCIES:
        return page("bad_request.html", 400, reason="Choose how often to get the alert.")
    now = runtime.now()
    with database(runtime, write=True) as session:
        if subscriber_view(session, subscriber_id, link_key) is None:
            return page("gone.html", 404)
        try:
            changed = _apply(session, action, subscriber_id, subscription_id, frequency, now)
        except NothingToStop:
            return page("gone.html", 404)
    done = action if changed else "unchanged"
    return redirect(url_for("preferences.show", token=token, done=done), code=303)  # type: ignore[return-value]


def _apply(
    session: Session,
    action: str,
    subscriber_id: int,
    subscription_id: int | None,
    frequency: str,
    now: datetime,
) -> bool:
    """Do one form action; True when it changed something."""
    if action == "stop-all":
        return stop_everything(session, subscriber_id, now) > 0
    if subscription_id is None:
        raise ValueError(f"action {action!r} needs a subscription")
    if action == "frequency":
        return change_frequency(session, subscriber_id, subscription_id, frequency, now)
    if action == "stop":
        return stop_subscription(session, subscriber_id, subscription_id, now)
    return restart_subscription(session, subscriber_id, subscription_id, now)
