"""Exporting subscriptions from the console (/admin/export): the CLI's file, audited.

The file is `trialalerts subscribers export`'s, written by the same function
(CSV cells formula-safe, importable again unchanged).  Downloading is a POST:
it is written to the audit log, and a GET never changes anything.  The file
is written to a temporary file first (spilling to disk), so its row count is
in the audit entry and a failure half-way sends no half file.
"""

from __future__ import annotations

import io
import tempfile

from flask import Response, render_template, request, send_file

from worker.core.audit import record_audit
from worker.subscriptions.files import write_subscription_file
from worker.subscriptions.lists import export_subscriptions
from worker.web.admin.auth import admin_required, current_admin_email
from worker.web.admin.blueprint import blueprint
from worker.web.support import current_runtime, database

MIMETYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@blueprint.get("/export")
@admin_required
def export_form() -> Response:
    return Response(render_template("admin/export.html"))


@blueprint.post("/export")
@admin_required
def export_download() -> Response:
    fmt = request.form.get("format", "csv")
    if fmt not in MIMETYPES:
        fmt = "csv"
    runtime = current_runtime()
    now = runtime.now()
    binary = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - sent, then closed by Flask
    out = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    with database(runtime, write=True) as db:
        count = write_subscription_file(export_subscriptions(db), out, fmt)
        after = {"format": fmt, "subscriptions": count}
        record_audit(db, current_admin_email(), "subscriptions.export", "all", after=after, now=now)
    out.flush()
    out.detach()
    binary.seek(0)
    return send_file(
        binary,  # type: ignore[arg-type]
        mimetype=MIMETYPES[fmt],
        as_attachment=True,
        download_name=f"trialalerts-subscriptions-{now:%Y%m%d-%H%M}.{fmt}",
    )
