"""The confirmation step of every console action: a first POST shows what will happen,
a second one (carrying `confirmed=yes`) does it.

Usage in a view:  `if not confirmed(): return confirmation(...)`, then act.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response, render_template, request

CONFIRM_FIELD = "confirmed"


def confirmed() -> bool:
    return request.form.get(CONFIRM_FIELD) == "yes"


def confirmation(
    *,
    title: str,
    message: str,
    action: str,
    button: str,
    fields: Mapping[str, str],
    cancel: str,
) -> Response:
    """A page asking to confirm; its form posts `fields` again to `action`, confirmed."""
    html = render_template(
        "admin/confirm.html",
        title=title,
        message=message,
        action=action,
        button=button,
        fields=fields,
        cancel=cancel,
        confirm_field=CONFIRM_FIELD,
    )
    return Response(html)
