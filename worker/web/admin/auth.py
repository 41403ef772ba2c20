"""Who may use the console, and that its forms come from its own pages.

Every route of the admin blueprint is closed unless marked `public` (only the
login page is): the blueprint's `guard` runs before each of them, so a route
added later is protected without anyone remembering to.  Anonymous requests
get a redirect to the login page, or 401 on data endpoints (a rule ending in
`.json`, or a view marked with `admin_required(data=True)`).  `admin_required`
says the same on a view, for the reader and for views used outside the guard.

Every POST must carry `csrf_token`: a signature (the token module's form
signer) of a random value kept in this browser's session.  A new session
(login, logout) makes older forms stale: 400, and nothing changes.

The logged-in admin is a Flask-Login user whose id carries the account's
session nonce: removing the account, or logging out (a new nonce), ends every
session of it at the next request.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast, overload
from urllib.parse import unquote, urlsplit

from flask import abort, current_app, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from worker.core.ids import parse_id
from worker.core.models import AdminUser
from worker.web.admin.cookie import ADMIN_PREFIX
from worker.web.security import form_token, form_token_ok, same_origin
from worker.web.support import current_runtime, database

F = TypeVar("F", bound=Callable[..., Any])

CSRF_FIELD = "csrf_token"
_CSRF_SESSION_KEY = "csrf"
_CSRF_FORM = "admin-console"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
STALE_FORM = (
    "This form is out of date (a new login, or a page kept open too long). "
    "Go back, reload the page and try again."
)


@dataclass(frozen=True, eq=False)
class Admin(UserMixin):
    """The logged-in admin; the Flask-Login id is `<account id>:<session nonce>`."""

    account_id: int
    email: str
    nonce: str

    def get_id(self) -> str:
        return f"{self.account_id}:{self.nonce}"


def admin_of(user: AdminUser) -> Admin:
    return Admin(user.id, user.email, user.session_nonce)


def _load_admin(user_id: str) -> Admin | None:
    """The account named by a session, only while it exists and holds the session's nonce."""
    raw_id, _, nonce = user_id.partition(":")
    account_id = parse_id(raw_id)
    if account_id is None or not nonce:
        return None
    with database(current_runtime(), write=False) as db:
        user = db.get(AdminUser, account_id)
        if user is None or not hmac.compare_digest(user.session_nonce.encode(), nonce.encode()):
            return None
        return admin_of(user)


class _ConsoleLoginManager(LoginManager):
    """Flask-Login without "remember me": a session ends with the browser or its cookie.

    The console never sets Flask-Login's `remember_token` cookie, but Flask-Login
    reads one whenever a request carries it (any site of the domain can set it),
    and checking it needs the app's SECRET_KEY, which this app has not: a 500.
    """

    def _load_user_from_remember_cookie(self, cookie: str) -> None:
        return None


def login_manager() -> LoginManager:
    manager = _ConsoleLoginManager()
    manager.user_loader(_load_admin)
    manager.session_protection = "basic"
    return manager


def current_admin() -> Admin:
    """The logged-in admin (every console view but the login page runs behind the guard)."""
    if not current_user.is_authenticated:
        raise RuntimeError("no admin is logged in")
    return cast(Admin, current_user._get_current_object())


def current_admin_email() -> str:
    """The logged-in admin's address: the `actor` of their audit entries."""
    return current_admin().email


def public(view: F) -> F:
    """Open to anonymous visitors (the login page): the guard lets it through."""
    view.admin_public = True  # type: ignore[attr-defined]
    return view


@overload
def admin_required(view: F) -> F: ...
@overload
def admin_required(*, data: bool = False) -> Callable[[F], F]: ...
def admin_required(view: F | None = None, *, data: bool = False) -> Any:
    """Only for a logged-in admin: pages redirect to login, data endpoints (`data=True`) 401."""

    def decorate(inner: F) -> F:
        @wraps(inner)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return refusal(data or _is_data_rule())
            return inner(*args, **kwargs)

        checked.admin_data = data  # type: ignore[attr-defined]
        return cast(F, checked)

    return decorate(view) if view is not None else decorate


def _is_data_rule() -> bool:
    rule = request.url_rule
    return rule is not None and rule.rule.endswith(".json")


def is_data_endpoint(view: Any, rule: str) -> bool:
    """Answers data, not a page: refused with 401 instead of a redirect."""
    return rule.endswith(".json") or bool(getattr(view, "admin_data", False))


def refusal(data: bool) -> Response:
    if data:
        response = jsonify({"error": "log in to the admin console first"})
        response.status_code = 401
        return response
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.login", next=target))


def safe_next(target: str | None) -> str:
    """Where to go after login: a console path of this site, never elsewhere."""
    default = url_for("admin.overview")
    if not target or not target.isprintable():
        return default  # control characters: urlsplit skips line breaks a Location cannot hold
    parts = urlsplit(target)
    console = request.script_root + ADMIN_PREFIX
    if parts.scheme or parts.netloc or target.startswith("//") or "\\" in target:
        return default
    segments = unquote(parts.path).split("/")
    if "." in segments or ".." in segments:
        return default
    if not (parts.path == console or parts.path.startswith(console + "/")):
        return default
    return target


def csrf_token() -> str:
    """The anti-forgery value for this session's forms (the session gets one on first use)."""
    nonce = session.get(_CSRF_SESSION_KEY)
    if not nonce:
        nonce = session[_CSRF_SESSION_KEY] = secrets.token_urlsafe(24)
    return form_token(current_runtime().settings.secret_keys, _CSRF_FORM, nonce)


def csrf_field() -> Markup:
    """The hidden input every console form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token())
    )


def csrf_ok(given: str | None) -> bool:
    nonce = session.get(_CSRF_SESSION_KEY)
    if not nonce:
        return False
    return form_token_ok(current_runtime().settings.secret_keys, _CSRF_FORM, nonce, given)


def new_session() -> None:
    """Forget everything the browser's session held (against session fixation)."""
    session.clear()


def guard() -> Response | None:
    """Before every console view: a session for all but public views, a valid form on POST."""
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "admin_public", False) and not current_user.is_authenticated:
        rule = request.url_rule.rule if request.url_rule else request.path
        return refusal(is_data_endpoint(view, rule))
    if request.method in _SAFE_METHODS:
        return None
    if current_user.is_authenticated:
        megabytes = current_runtime().settings.admin_upload_mb
        request.max_content_length = megabytes * 1024 * 1024
    settings = current_runtime().settings
    if not same_origin(request, settings.base_url) or not csrf_ok(request.form.get(CSRF_FIELD)):
        abort(400, STALE_FORM)
    return None
