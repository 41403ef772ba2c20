"""Suppressed addresses (/admin/suppressions): list, add, remove; changes confirmed, audited."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as AnyResponse

from worker.core.audit import record_audit
from worker.core.models import Suppression
from worker.core.sql import storable_text
from worker.subscriptions.rows import normalize_email
from worker.subscriptions.suppressions import ADMIN_REASON, add_suppression, remove_suppression
from worker.web.admin.auth import admin_required, current_admin_email
from worker.web.admin.blueprint import blueprint
from worker.web.admin.confirm import confirmation, confirmed
from worker.web.support import current_runtime, database

PAGE_SIZE = 100
MAX_REASON = 200


def _field(values: Mapping[str, str], name: str) -> str:
    """A request value with NUL, which PostgreSQL cannot take, as U+FFFD (no address holds it)."""
    return storable_text(values.get(name, ""))


def _page(status: int = 200, error: str | None = None) -> Response:
    """One page of suppressed addresses in address order, from `after` on."""
    after = _field(request.args, "after")
    with database(current_runtime(), write=False) as db:
        rows = db.execute(
            select(Suppression.email, Suppression.reason, Suppression.created_at)
            .where(Suppression.email > after)
            .order_by(Suppression.email)
            .limit(PAGE_SIZE + 1)
        ).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    html = render_template(
        "admin/suppressions.html",
        rows=rows,
        next_after=rows[-1].email if more else None,
        after=after,
        error=error,
        form=request.form,
    )
    return Response(html, status)


@blueprint.get("/suppressions")
@admin_required
def suppressions() -> AnyResponse:
    return _page()


@blueprint.post("/suppressions/add")
@admin_required
def suppression_add() -> AnyResponse:
    try:
        email = normalize_email(request.form.get("email", ""))
    except ValueError as error:
        return _page(400, f"Not an email address: {error}")
    reason = _field(request.form, "reason").strip()[:MAX_REASON] or ADMIN_REASON
    if not confirmed():
        return confirmation(
            title="Suppress this address?",
            message=f"Nothing will be sent to {email} any more ({reason}).",
            action=url_for("admin.suppression_add"),
            button="Suppress",
            fields={"email": email, "reason": reason},
            cancel=url_for("admin.suppressions"),
        )
    runtime = current_runtime()
    now = runtime.now()
    with database(runtime, write=True) as db:
        added = add_suppression(db, email, reason, now)
        if added:
            after = {"email": email, "reason": reason}
            record_audit(db, current_admin_email(), "suppression.add", email, after=after, now=now)
    flash(f"{email} is suppressed." if added else f"{email} was already suppressed.")
    return redirect(url_for("admin.suppressions"))


@blueprint.post("/suppressions/remove")
@admin_required
def suppression_remove() -> AnyResponse:
    email = _field(request.form, "email").strip().lower()
    runtime = current_runtime()
    with database(runtime, write=False) as db:
        row = db.get(Suppression, email) if email else None
    if row is None:
        return _page(404, f"{email or 'That address'} is not suppressed.")
    if not confirmed():
        return confirmation(
            title="Remove this suppression?",
            message=(
                f"Emails to {email} may be sent again. Subscriptions stopped by a complaint "
                "stay stopped."
            ),
            action=url_for("admin.suppression_remove"),
            button="Remove suppression",
            fields={"email": email},
            cancel=url_for("admin.suppressions"),
        )
    now = runtime.now()
    before = {"email": row.email, "reason": row.reason, "since": row.created_at}
    with database(runtime, write=True) as db:
        if remove_suppression(db, email):
            record_audit(
                db, current_admin_email(), "suppression.remove", email, before=before, now=now
            )
    flash(f"{email} is no longer suppressed.")
    return redirect(url_for("admin.suppressions"))
