"""Subscribers in the console: search, one subscriber's page, their digest preview, actions.

Search (/admin/subscribers?q=TEXT&by=address|condition) matches the start of
an address or of a condition, in any case: what the prefix indexes answer
on millions of rows (worker/subscriptions/search.py).  Each action (stop or
restart a subscription, suppress or unsuppress the address, remove the
subscriber) is a POST that first shows a confirmation page, then calls the
stage function the CLI and the preferences page use, and writes the audit
entry in the same transaction.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as AnyResponse

from worker.core.audit import record_audit
from worker.core.ids import parse_id
from worker.core.models import Subscriber, Suppression
from worker.core.quoting import terminal_safe
from worker.core.sql import storable_text
from worker.digests.preview import Preview, preview_digests
from worker.subscriptions.lists import remove_subscriber
from worker.subscriptions.preferences import restart_subscription, stop_subscription
from worker.subscriptions.search import ResultPage, search_addresses, search_conditions
from worker.subscriptions.subscriber_record import (
    SubscriberRecord,
    SubscriptionDetail,
    as_audit,
    subscriber_record,
)
from worker.subscriptions.suppressions import ADMIN_REASON, add_suppression, remove_suppression
from worker.web.admin.auth import admin_required, current_admin_email
from worker.web.admin.blueprint import blueprint
from worker.web.admin.confirm import confirmation, confirmed
from worker.web.support import current_runtime, database

SEARCH_KINDS = ("address", "condition")
MAX_REASON = 200
# The preview is our own digest HTML; still, nothing in it may run or load.
PREVIEW_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"


@blueprint.get("/subscribers")
@admin_required
def subscribers() -> AnyResponse:
    query = request.args.get("q", "")
    by = request.args.get("by", "address")
    if by not in SEARCH_KINDS:
        by = "address"
    after = request.args.get("after") or None
    page: ResultPage[Any]
    with database(current_runtime(), write=False) as db:
        if by == "address":
            page = search_addresses(db, query, after)
        else:
            page = search_conditions(db, query, after)
    html = render_template(
        "admin/subscribers.html", query=query, by=by, page=page, paged=after is not None
    )
    return Response(html)


def _record(db: Session, subscriber_id: str) -> SubscriberRecord:
    pk = parse_id(subscriber_id)
    record = subscriber_record(db, pk) if pk is not None else None
    if record is None:
        abort(404, "There is no subscriber with that id (removed, or never there).")
    return record


@blueprint.get("/subscribers/<subscriber_id>")
@admin_required
def subscriber(subscriber_id: str) -> AnyResponse:
    with database(current_runtime(), write=False) as db:
        record = _record(db, subscriber_id)
    return Response(render_template("admin/subscriber.html", record=record))


@blueprint.get("/subscribers/<subscriber_id>/preview")
@admin_required
def preview(subscriber_id: str) -> AnyResponse:
    """The digests this subscriber would get now, each openable as the email's HTML."""
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        record = _record(db, subscriber_id)
        previews = preview_digests(db, runtime.settings, record.email, runtime.now()) or []
    return Response(render_template("admin/preview.html", record=record, previews=previews))


@blueprint.get("/subscribers/<subscriber_id>/preview/<frequency>")
@admin_required
def preview_email(subscriber_id: str, frequency: str) -> AnyResponse:
    """One digest's HTML as the email would show it, in a sandbox (nothing runs)."""
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        record = _record(db, subscriber_id)
        previews = preview_digests(db, runtime.settings, record.email, runtime.now()) or []
    found: Preview | None = next((p for p in previews if p.frequency == frequency), None)
    if found is None:
        abort(404, "Nothing is waiting for that digest now: there is nothing to preview.")
    response = Response(found.email.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    return response


def _subscription(record: SubscriberRecord) -> SubscriptionDetail:
    pk = parse_id(request.form.get("subscription"))
    found = next((sub for sub in record.subscriptions if sub.id == pk), None)
    if found is None:
        abort(404, "That subscription is not one of this subscriber's (removed meanwhile?).")
    return found


def _back(record: SubscriberRecord) -> str:
    return url_for("admin.subscriber", subscriber_id=record.id)


@blueprint.post("/subscribers/<subscriber_id>/stop")
@admin_required
def stop(subscriber_id: str) -> AnyResponse:
    return _switch(subscriber_id, run=False)


@blueprint.post("/subscribers/<subscriber_id>/restart")
@admin_required
def restart(subscriber_id: str) -> AnyResponse:
    return _switch(subscriber_id, run=True)


def _switch(subscriber_id: str, *, run: bool) -> AnyResponse:
    """Stop or restart one subscription, as its owner can on the preferences page."""
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        record = _record(db, subscriber_id)
    sub = _subscription(record)
    what = f"{sub.kind} {sub.target!r} ({sub.frequency})"
    if not confirmed():
        verb = "Restart" if run else "Stop"
        message = (
            f"{record.email} will get emails for {what} again."
            if run
            else f"{record.email} will get no more emails for {what}."
        )
        return confirmation(
            title=f"{verb} this subscription?",
            message=message,
            action=url_for(str(request.endpoint), subscriber_id=record.id),
            button=verb,
            fields={"subscription": str(sub.id)},
            cancel=_back(record),
        )
    now = runtime.now()
    change = restart_subscription if run else stop_subscription
    with database(runtime, write=True) as db:
        changed = change(db, record.id, sub.id, now)
        if changed:
            after = as_audit(sub) | {"active": run}
            action = "subscription.restart" if run else "subscription.stop"
            target = f"subscription {sub.id} of {record.email}"
            record_audit(db, current_admin_email(), action, target, as_audit(sub), after, now=now)
    if changed:
        flash(f"{'Restarted' if run else 'Stopped'}: {what}.")
    elif run and not sub.confirmed:
        flash(f"Not restarted: {what} waits for its owner's confirmation.")
    else:
        flash(f"Nothing changed: {what} was {'on' if run else 'stopped'} already.")
    return redirect(_back(record))


@blueprint.post("/subscribers/<subscriber_id>/suppress")
@admin_required
def suppress(subscriber_id: str) -> AnyResponse:
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        record = _record(db, subscriber_id)
    # NUL, which PostgreSQL cannot take, kept as U+FFFD.
    typed = storable_text(request.form.get("reason", ""))
    reason = " ".join(typed.split())[:MAX_REASON] or ADMIN_REASON
    if not confirmed():
        return confirmation(
            title="Suppress this address?",
            message=f"Nothing will be sent to {record.email} any more ({terminal_safe(reason)}).",
            action=url_for(str(request.endpoint), subscriber_id=record.id),
            button="Suppress",
            fields={"reason": reason},
            cancel=_back(record),
        )
    now = runtime.now()
    with database(runtime, write=True) as db:
        added = add_suppression(db, record.email, reason, now)
        if added:
            after = {"email": record.email, "reason": reason}
            actor = current_admin_email()
            record_audit(db, actor, "suppression.add", record.email, after=after, now=now)
    flash(f"{record.email} is suppressed." if added else f"{record.email} was suppressed already.")
    return redirect(_back(record))


@blueprint.post("/subscribers/<subscriber_id>/unsuppress")
@admin_required
def unsuppress(subscriber_id: str) -> AnyResponse:
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        record = _record(db, subscriber_id)
    held = record.suppression
    if held is None:
        flash(f"{record.email} is not suppressed.")
        return redirect(_back(record))
    if not confirmed() or "since" not in request.form:
        return confirmation(
            title="Remove this suppression?",
            message=(
                f"{record.email} is suppressed since {held.created_at:%Y-%m-%d %H:%M} UTC "
                f"({terminal_safe(held.reason)}). Emails to them may be sent again. "
                "Subscriptions stopped by a complaint stay stopped."
            ),
            action=url_for(str(request.endpoint), subscriber_id=record.id),
            button="Remove suppression",
            fields={"since": held.created_at.isoformat()},
            cancel=_back(record),
        )
    now = runtime.now()
    with database(runtime, write=True) as db:
        # Only the suppression the confirmation named: not one made since (a new complaint).
        current = db.get(Suppression, record.email, with_for_update=True)
        lifted = current is not None and current.created_at.isoformat() == request.form.get("since")
        if current is not None and lifted:
            before = {"email": current.email, "reason": current.reason, "since": current.created_at}
            remove_suppression(db, record.email)
            actor = current_admin_email()
            record_audit(db, actor, "suppression.remove", record.email, before=before, now=now)
    if lifted:
        flash(f"{record.email} is no longer suppressed.")
    else:
        flash(
            f"Nothing was lifted: the suppression of {record.email} changed after the "
            "confirmation was shown. Look at it again."
        )
    return redirect(_back(record))


@blueprint.post("/subscribers/<subscriber_id>/remove")
@admin_required
def remove(subscriber_id: str) -> AnyResponse:
    """Delete the subscriber with everything of theirs, as `trialalerts subscribers remove`."""
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        record = _record(db, subscriber_id)
    count = len(record.subscriptions)
    if not confirmed():
        return confirmation(
            title="Remove this subscriber?",
            message=(
                f"{record.email} and their {count} subscription{'' if count == 1 else 's'} "
                "will be deleted, with what was waiting to be sent to them. This cannot be undone."
            ),
            action=url_for(str(request.endpoint), subscriber_id=record.id),
            button="Remove subscriber",
            fields={},
            cancel=_back(record),
        )
    now = runtime.now()
    before = {
        "subscriber": record.id,
        "email": record.email,
        "subscriptions": [as_audit(sub) for sub in record.subscriptions],
    }
    with database(runtime, write=True) as db:
        if db.get(Subscriber, record.id) is not None:
            removed = remove_subscriber(db, record.email)
            actor = current_admin_email()
            record_audit(db, actor, "subscriber.remove", record.email, before=before, now=now)
            plural = "" if removed == 1 else "s"
            flash(f"Removed {record.email} and {removed} subscription{plural}.")
    return redirect(url_for("admin.subscribers"))
