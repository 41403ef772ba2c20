"""Importing a subscriptions file in the console (/admin/import).

Upload (multipart, up to TRIALALERTS_ADMIN_UPLOAD_MB, else 413 with a page
saying so) -> the file is checked and kept -> its dry run runs in the
background -> the page shows the report (rows to add, change, leave; every
rejected line with its number and reason) -> a second click applies it, in
the background too, with the progress shown.  The pages refresh themselves
(<meta refresh>) while work runs: no JavaScript.  The service functions are
in worker/subscriptions/uploads.py; the work starts through
worker/queue/background.py.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import defer
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as AnyResponse

from worker.core.ids import parse_id
from worker.core.models import AdminImport
from worker.core.quoting import terminal_safe
from worker.queue.background import start_import
from worker.subscriptions.uploads import (
    APPLICABLE,
    RUNNING,
    UploadRefused,
    accept_upload,
    request_apply,
    store_upload,
)
from worker.web.admin.auth import admin_required, current_admin_email
from worker.web.admin.blueprint import blueprint
from worker.web.support import current_runtime, database

RECENT = 20
SHOWN_REJECTIONS = 500
REFRESH_SECONDS = 2


def _form(status: int = 200, error: str | None = None) -> Response:
    with database(current_runtime(), write=False) as db:
        recent = db.execute(
            select(
                AdminImport.id,
                AdminImport.filename,
                AdminImport.created_by,
                AdminImport.created_at,
                AdminImport.state,
            )
            .order_by(AdminImport.id.desc())
            .limit(RECENT)
        ).all()
    html = render_template(
        "admin/import.html",
        recent=recent,
        error=error,
        limit_mb=current_runtime().settings.admin_upload_mb,
    )
    return Response(html, status)


@blueprint.get("/import")
@admin_required
def import_form() -> AnyResponse:
    return _form()


@blueprint.post("/import")
@admin_required
def import_upload() -> AnyResponse:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _form(400, "Choose a .csv or .jsonl file to upload.")
    filename = upload.filename
    try:
        fmt, text = accept_upload(upload.read(), filename)
    except UploadRefused as refusal:
        return _form(422, terminal_safe(str(refusal)))
    runtime = current_runtime()
    with database(runtime, write=True) as db:
        import_id = store_upload(db, current_admin_email(), filename, fmt, text, runtime.now())
    start_import(runtime, import_id)
    return redirect(url_for("admin.import_status", import_id=import_id), code=303)


@blueprint.errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> Response:
    """The one console request that can be this big is an upload: say what the limit is."""
    limit = current_runtime().settings.admin_upload_mb
    html = render_template("admin/too_large.html", limit_mb=limit)
    return Response(html, 413)


def _upload(db: Any, import_id: str) -> AdminImport:
    """The import's row without its file (deferred): up to 50 MB, read by each progress reload."""
    pk = parse_id(import_id)
    upload = (
        db.get(AdminImport, pk, options=[defer(AdminImport.content)]) if pk is not None else None
    )
    if upload is None:
        abort(404, "There is no import with that id.")
    return upload


@blueprint.get("/import/<import_id>")
@admin_required
def import_status(import_id: str) -> AnyResponse:
    with database(current_runtime(), write=False) as db:
        upload = _upload(db, import_id)
        view = {
            "id": upload.id,
            "filename": upload.filename,
            "format": upload.format,
            "created_by": upload.created_by,
            "created_at": upload.created_at,
            "state": upload.state,
            "lines_total": upload.lines_total or 0,
            "lines_done": upload.lines_done or 0,
            "applied_at": upload.applied_at,
            "error": upload.error,
        }
        report = upload.report or {}
    running = view["state"] in RUNNING
    html = render_template(
        "admin/import_status.html",
        upload=view,
        running=running,
        applicable=view["state"] in APPLICABLE and "dry_run" in report,
        dry_run=report.get("dry_run"),
        applied=report.get("applied"),
        shown_rejections=SHOWN_REJECTIONS,
        refresh=REFRESH_SECONDS if running else None,
    )
    return Response(html)


@blueprint.get("/import/<import_id>/rejected.txt")
@admin_required
def import_rejected(import_id: str) -> AnyResponse:
    """Every rejected line of the report, `line N: reason`, as the CLI prints them."""
    with database(current_runtime(), write=False) as db:
        upload = _upload(db, import_id)
        report = upload.report or {}
    latest = report.get("applied") or report.get("dry_run") or {"rejected": []}
    text = "".join(f"line {line}: {terminal_safe(reason)}\n" for line, reason in latest["rejected"])
    name = f"import-{upload.id}-rejected.txt"
    response = Response(text, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.post("/import/<import_id>/apply")
@admin_required
def import_apply(import_id: str) -> AnyResponse:
    """The second click: apply the file the dry run reported on, in the background."""
    runtime = current_runtime()
    with database(runtime, write=True) as db:
        upload = _upload(db, import_id)
        started = request_apply(db, upload.id, current_admin_email(), runtime.now())
    if started:
        start_import(runtime, upload.id)
    return redirect(url_for("admin.import_status", import_id=upload.id), code=303)
