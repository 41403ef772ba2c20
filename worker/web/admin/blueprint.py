"""The admin console's blueprint, mounted at /admin; its views live in sibling modules.

Registering it gives the app what the console needs: its session cookie
(worker.web.admin.cookie), Flask-Login, and the guard that closes every
console route to anonymous visitors and checks every form's CSRF token.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, request, url_for
from flask.blueprints import BlueprintSetupState

from worker.core.paths import templates_dir
from worker.web.admin.auth import csrf_field, csrf_token, current_admin, guard, login_manager
from worker.web.admin.cookie import ADMIN_PREFIX, SESSION_LIFETIME, AdminSessionInterface

# (label, path below /admin/): the console's navigation, in order.
NAVIGATION = (
    ("Overview", ""),
    ("Subscribers", "subscribers"),
    ("Import", "import"),
    ("Export", "export"),
    ("Suppressions", "suppressions"),
    ("Dead letters", "deadletters"),
    ("Audit", "audit"),
)

# Templates are named "admin/…" (templates/admin/); the app's own folder is templates/web.
blueprint = Blueprint(
    "admin", __name__, url_prefix=ADMIN_PREFIX, template_folder=str(templates_dir())
)


@blueprint.record_once
def _install(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    app.session_interface = AdminSessionInterface()
    app.permanent_session_lifetime = SESSION_LIFETIME
    login_manager().init_app(app)


blueprint.before_request(guard)


@blueprint.context_processor
def _console_context() -> dict[str, Any]:
    root = url_for("admin.overview")
    here = request.path
    navigation = [
        (label, root + path, here == root + path or (path and here.startswith(root + path)))
        for label, path in NAVIGATION
    ]
    return {
        "csrf_token": csrf_token,
        "csrf_field": csrf_field,
        "navigation": navigation,
        "admin_email": lambda: current_admin().email,
    }
