"""The audit log (/admin/audit): every admin state change, newest first, a page at a time.

Pages are keyset-paginated on the entry id (`before`), which grows with time.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, render_template, request
from sqlalchemy import select

from worker.core.ids import parse_id
from worker.core.models import AuditEntry
from worker.web.admin.auth import admin_required
from worker.web.admin.blueprint import blueprint
from worker.web.support import current_runtime, database

PAGE_SIZE = 50


def shown(value: Any) -> str:
    """A before/after value as compact JSON text ("" when there is none)."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


@blueprint.get("/audit")
@admin_required
def audit() -> Response:
    before = parse_id(request.args.get("before"))
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    with database(current_runtime(), write=False) as db:
        entries = list(db.scalars(query))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    html = render_template(
        "admin/audit.html",
        entries=entries,
        shown=shown,
        paged=before is not None,
        next_before=entries[-1].id if more else None,
    )
    return Response(html)
