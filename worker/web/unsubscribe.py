"""Unsubscribe pages: GET shows what a link stops and a button; POST stops it.

Mail scanners open links, so GET never changes anything. POST needs no
cookie and no form token: RFC 8058 one-click unsubscribe posts
`List-Unsubscribe=One-Click` from the mail provider's servers, and the
signed link itself is the proof. Stopping twice answers the same 200 page.
A link whose subscriber is gone (or is a later row under the same id) gets
404 and touches nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from worker.core.tokens import BadToken, preferences_token
from worker.subscriptions.unsubscribe import (
    NothingToStop,
    StopScope,
    check_link,
    read_stop_token,
    stop,
)
from worker.subscriptions.views import STREAM_LABELS, subscription_views
from worker.web.support import current_runtime, database, page

blueprint = Blueprint("unsubscribe", __name__)


@blueprint.route("/u/<token>", methods=["GET", "POST"])
def stream(token: str) -> Response:
    return _unsubscribe("stream", token)


@blueprint.route("/u/s/<token>", methods=["GET", "POST"])
def subscription(token: str) -> Response:
    return _unsubscribe("subscription", token)


@blueprint.route("/u/all/<token>", methods=["GET", "POST"])
def everything(token: str) -> Response:
    return _unsubscribe("all", token)


def _unsubscribe(link: str, token: str) -> Response:
    runtime = current_runtime()
    keys = runtime.settings.secret_keys
    try:
        scope = read_stop_token(keys, link, token)
    except BadToken:
        return page("invalid_link.html", 400)
    posted = request.method == "POST"
    with database(runtime, write=posted) as session:
        try:
            link_key = check_link(session, scope)
            if posted:
                stop(session, scope, runtime.now())
        except NothingToStop:
            return page("gone.html", 404)
        covered = subscription_views(
            session,
            scope.subscriber_id,
            frequency=scope.frequency,
            subscription_id=scope.subscription_id,
        )
    preferences = url_for(
        "preferences.show", token=preferences_token(keys, scope.subscriber_id, link_key)
    )
    template = "unsubscribed.html" if posted else "unsubscribe.html"
    return page(
        template,
        what=_what(scope),
        subscriptions=covered,
        running=[view for view in covered if view.active],
        preferences_url=preferences,
    )


def _what(scope: StopScope) -> str:
    """What the link stops, in the words of the page's heading."""
    if scope.link == "stream":
        return f"your {STREAM_LABELS.get(scope.frequency or '', 'digests')}"
    if scope.link == "subscription":
        return "this alert"
    return "all your alerts"
