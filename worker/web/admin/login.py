"""Logging in and out of the console (/admin/login, /admin/logout).

Every refused login gets the same page, status and work, whether the address
is unknown, the account locked or the password wrong (see accounts.authenticate).
A login starts a new session; logging out ends every session of the account.
"""

from __future__ import annotations

import logging

from flask import Response, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response as AnyResponse

from worker.web.admin.accounts import authenticate, end_sessions
from worker.web.admin.auth import admin_of, current_admin, new_session, public, safe_next
from worker.web.admin.blueprint import blueprint
from worker.web.admin.passwords import passwords_of
from worker.web.support import current_runtime, database

log = logging.getLogger(__name__)

REFUSED = (
    "That email address and password do not match an admin account, or the account "
    "is locked for 15 minutes after 5 failed logins. Check them and try again later."
)


def _form(status: int = 200, error: str | None = None, email: str = "") -> Response:
    html = render_template(
        "admin/login.html", error=error, email=email, next=request.values.get("next", "")
    )
    return Response(html, status)


@blueprint.get("/login")
@public
def login() -> AnyResponse:
    return _form()


@blueprint.post("/login")
@public
def login_submit() -> AnyResponse:
    runtime = current_runtime()
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    with runtime.sessions() as db:
        user = authenticate(db, passwords_of(runtime), email, password, runtime.now())
    if user is None:
        log.warning("admin login refused")
        return _form(401, REFUSED, email)
    new_session()
    login_user(admin_of(user))
    log.info("admin login", extra={"admin": user.email})
    return redirect(safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout() -> AnyResponse:
    runtime = current_runtime()
    with database(runtime, write=True) as db:
        end_sessions(db, current_admin().account_id)
    logout_user()
    new_session()
    return redirect(url_for("admin.login"))
