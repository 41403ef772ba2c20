"""The preferences page: every alert of one subscriber, to change, stop or restart, and when
their digests arrive.

Reached by a signed link from any digest; the link works while its
subscriber's row holds the link key it was minted with. Each form carries a
token derived from the page's own link and must come from this site; a POST
answers with a redirect back to the page (so reloading never repeats it),
naming what was done. An alert's new filters pass through parse_row, as an
import row would; any error shows the page again with the message beside its
input and nothing saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, redirect, request, url_for
from sqlalchemy.orm import Session

from worker.core.cadence import FREQUENCIES
from worker.core.ids import parse_id
from worker.core.tokens import LINK_KEY, BadToken, read_token
from worker.subscriptions.lists import ListedSubscription, list_subscriptions
from worker.subscriptions.preferences import (
    change_alert,
    change_frequency,
    change_schedule,
    restart_subscription,
    stop_everything,
    stop_subscription,
)
from worker.subscriptions.rows import parse_row, timezone_name
from worker.subscriptions.unsubscribe import NothingToStop
from worker.subscriptions.views import (
    SubscriberView,
    SubscriptionView,
    subscriber_view,
    subscription_views,
)
from worker.web.alert_form import (
    Choices,
    form_values,
    input_errors,
    row_fields,
    sentence,
    stored_values,
)
from worker.web.security import form_token, form_token_ok, same_origin
from worker.web.support import current_runtime, database, page

blueprint = Blueprint("preferences", __name__)

FORM = "preferences"
ACTIONS = ("save", "frequency", "stop", "restart", "stop-all", "schedule")
NOTICES = {
    "save": "Saved: the alert now asks for what you chose.",
    "frequency": "Saved: the alert will now come with its new frequency.",
    "stop": "Stopped: you will get no more emails for that alert.",
    "restart": "Restarted: the alert is on again.",
    "stop-all": "Stopped: you will get no more alert emails from us.",
    "schedule": "Saved: your digests will come at the new time.",
    "unchanged": "Nothing changed: that was already so.",
}
HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]


@dataclass(frozen=True)
class Alert:
    """One alert on the page: what it is, and its form (as stored, or as just sent back)."""

    view: SubscriptionView
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def eligibility(self) -> bool:
        """Eligibility and design filters are for condition alerts; a followed study is one."""
        return self.view.kind == "condition"


@dataclass(frozen=True)
class Rejected:
    """A form sent back with errors: which one, what was typed, and what is wrong."""

    form: str  # "alert" or "schedule"
    values: dict[str, Any]
    errors: dict[str, str]
    subscription_id: int | None = None


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
    named = _subscriber_of(runtime.settings.secret_keys, token)
    if named is None:
        return page("invalid_link.html", 400)
    with database(runtime, write=False) as session:
        subscriber = subscriber_view(session, *named)
        if subscriber is None:
            return page("gone.html", 404)
        return _page(session, subscriber, token, 200, None)


def _page(
    session: Session,
    subscriber: SubscriberView,
    token: str,
    status: int,
    rejected: Rejected | None,
) -> Response:
    stored = {listed.id: listed for listed in list_subscriptions(session, subscriber.email)}
    alerts = []
    for view in subscription_views(session, subscriber.id):
        if rejected is not None and rejected.subscription_id == view.id:
            alerts.append(Alert(view, rejected.values, rejected.errors))
        else:
            alerts.append(Alert(view, stored_values(stored[view.id].row)))
    schedule = {"timezone": subscriber.timezone, "send_hour": str(subscriber.send_hour)}
    schedule_errors: dict[str, str] = {}
    if rejected is not None and rejected.form == "schedule":
        schedule, schedule_errors = rejected.values, rejected.errors
    return page(
        "preferences.html",
        status,
        subscriber=subscriber,
        alerts=alerts,
        choices=Choices(),
        hours=HOURS,
        schedule=schedule,
        schedule_errors=schedule_errors,
        csrf_token=form_token(current_runtime().settings.secret_keys, FORM, token),
        notice=NOTICES.get(request.args.get("done", "")) if rejected is None else None,
        has_errors=rejected is not None,
    )


@blueprint.post("/preferences/<token>")
def change(token: str) -> Response:
    runtime = current_runtime()
    keys = runtime.settings.secret_keys
    named = _subscriber_of(keys, token)
    if named is None:
        return page("invalid_link.html", 400)
    form = request.form
    if not same_origin(request, runtime.settings.base_url) or not form_token_ok(
        keys, FORM, token, form.get("csrf_token")
    ):
        return page("forbidden.html", 403)
    action = form.get("action", "")
    if action not in ACTIONS:
        return page("bad_request.html", 400, reason="Unknown action.")
    subscription_id = None
    if action not in ("stop-all", "schedule"):
        subscription_id = parse_id(form.get("subscription"))
        if subscription_id is None:
            return page("bad_request.html", 400, reason="No alert was chosen.")
    frequency = form.get("frequency", "")
    if action == "frequency" and frequency not in FREQUENCIES:
        return page("bad_request.html", 400, reason="Choose how often to get the alert.")
    now = runtime.now()
    with database(runtime, write=True) as session:
        subscriber = subscriber_view(session, *named)
        if subscriber is None:
            return page("gone.html", 404)
        try:
            if action == "save":
                assert subscription_id is not None
                outcome = _save(session, subscriber, subscription_id, now)
            elif action == "schedule":
                outcome = _schedule(session, subscriber)
            else:
                outcome = _apply(session, action, subscriber.id, subscription_id, frequency, now)
        except NothingToStop:
            return page("gone.html", 404)
        if isinstance(outcome, Rejected):
            return _page(session, subscriber, token, 400, outcome)
    done = action if outcome else "unchanged"
    return redirect(url_for("preferences.show", token=token, done=done), code=303)  # type: ignore[return-value]


def _save(
    session: Session, subscriber: SubscriberView, subscription_id: int, now: datetime
) -> bool | Rejected:
    """One alert's form: its filters and frequency through parse_row, then saved."""
    listed = _listed(session, subscriber, subscription_id)
    stored = listed.row
    values = form_values(request.form, eligibility=stored.kind == "condition")
    fields, errors = row_fields(values)
    # What the page does not ask is carried over as it is.
    given = {
        "email": stored.email,
        "kind": stored.kind,
        "condition": stored.condition,
        "nct_id": stored.nct_id,
        "statuses": list(stored.statuses),
        "countries": list(stored.countries),
        "timezone": stored.timezone,
        **fields,
    }
    try:
        row = parse_row(given)
    except ValueError as error:
        errors = input_errors(error) | errors
    if errors:
        return Rejected("alert", values, errors, subscription_id)
    try:
        return change_alert(session, subscriber.id, subscription_id, row, now)
    except ValueError as error:
        return Rejected("alert", values, {"form": str(error)}, subscription_id)


def _listed(
    session: Session, subscriber: SubscriberView, subscription_id: int
) -> ListedSubscription:
    """One of the subscriber's own subscriptions (read to the end: the listing streams)."""
    found = [
        item for item in list_subscriptions(session, subscriber.email) if item.id == subscription_id
    ]
    if not found:
        raise NothingToStop("no such subscription")
    return found[0]


def _schedule(session: Session, subscriber: SubscriberView) -> bool | Rejected:
    """The time zone (checked by parse_row, as an import's) and the local send hour."""
    values = {
        "timezone": (request.form.get("timezone") or "").strip(),
        "send_hour": (request.form.get("send_hour") or "").strip(),
    }
    errors: dict[str, str] = {}
    try:
        timezone = timezone_name(values["timezone"] or "UTC")
    except ValueError as error:
        errors["timezone"] = sentence(str(error))
    hour = values["send_hour"]
    if not hour.isdigit() or not 0 <= int(hour) <= 23:
        errors["send_hour"] = "Choose an hour from 00:00 to 23:00."
    if errors:
        return Rejected("schedule", values, errors)
    return change_schedule(session, subscriber.id, timezone, int(hour))


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
