"""Subscription files uploaded in the admin console: checked, dry-run, then applied.

The upload is checked at once (a known file type, UTF-8 text, a readable
header) and kept as an AdminImport row, so the apply step reads exactly the
text the dry run reported on.  The dry run and the apply are the CLI's own
(`read_subscription_stream` + `import_subscriptions`) and run in the
background (`run_import`, from a queue message or a thread), because a
100k-line file takes longer than a request may; the reconciler wakes an
import whose message or thread was lost.

States: checking (dry run pending) -> checked (report ready) -> applying ->
applied; failed (an unexpected error, kept in `error`) may be applied again.
The apply commits after each batch with its checkpoint (the line it reached
and the counts so far): the progress shows, and an apply that stopped half-way
(a failure, or a killed worker whose import the reconciler wakes again)
resumes after its last batch, its counts going on from there.
"""

from __future__ import annotations

import codecs
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from worker.core.audit import record_audit
from worker.core.exclusive import exclusive
from worker.core.models import AdminImport
from worker.core.runtime import Runtime
from worker.core.sql import is_postgresql, storable_text
from worker.subscriptions.files import (
    FILE_FORMATS,
    ImportFileError,
    read_subscription_stream,
)
from worker.subscriptions.imports import Checkpoint, ImportReport, import_subscriptions

log = logging.getLogger(__name__)

CHECKING, CHECKED, APPLYING, APPLIED, FAILED = (
    "checking",
    "checked",
    "applying",
    "applied",
    "failed",
)
RUNNING = (CHECKING, APPLYING)
APPLICABLE = (CHECKED, FAILED)
BATCH = 1000
MAX_FILENAME = 500
SHOWN_BAD_LINES = 10
SAVE_AS_UTF8 = 'Save it as UTF-8 (in Excel: "CSV UTF-8") and upload it again.'


class UploadRefused(ValueError):
    """The upload cannot be imported at all; the message says why and what to do."""


def accept_upload(data: bytes, filename: str) -> tuple[str, str]:
    """(format, text) of an upload that can be dry-run; UploadRefused otherwise.

    Lines that are not UTF-8 refuse the whole file, unlike the CLI (which
    rejects those lines only): the file is kept as text, and a mis-encoded
    file is rarely wrong on one line only.  Lines ended by CR alone, as
    Excel's "CSV (Macintosh)" writes them, are kept ended by LF.
    """
    fmt = FILE_FORMATS.get(PurePath(filename).suffix.lower())
    if fmt is None:
        raise UploadRefused(f"{filename!r} is not a .csv, .jsonl or .ndjson file.")
    if not data.strip():
        raise UploadRefused("The file is empty.")
    if b"\r" in data and b"\n" not in data:
        data = data.replace(b"\r", b"\n")  # lines ended by CR only: Excel's "CSV (Macintosh)"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UploadRefused(f"The file is UTF-16 text, not UTF-8. {SAVE_AS_UTF8}")
    if b"\x00" in data:  # before decoding: a spreadsheet or an archive is no Windows-1252 text
        raise UploadRefused(
            f"The file holds NUL characters: it is not a text file, or not UTF-8. {SAVE_AS_UTF8}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(_not_utf8(data)) from None
    try:
        next(iter(read_subscription_stream(io.BytesIO(data), fmt, filename)), None)
    except ImportFileError as error:
        raise UploadRefused(str(error)) from None
    return fmt, text


def _not_utf8(data: bytes) -> str:
    bad = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
    shown = ", ".join(str(number) for number in bad[:SHOWN_BAD_LINES])
    more = f" and {len(bad) - SHOWN_BAD_LINES:,} more" if len(bad) > SHOWN_BAD_LINES else ""
    word = "line" if len(bad) == 1 else "lines"
    return (
        f"The file is not UTF-8 text: {word} {shown}{more} hold bytes that are not UTF-8 "
        f"(perhaps Windows-1252 or Latin-1). Nothing was imported. {SAVE_AS_UTF8}"
    )


def line_count(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def store_upload(
    session: Session, actor: str, filename: str, fmt: str, text: str, now: datetime
) -> int:
    """Keep an accepted upload, waiting for its dry run; returns its id (audited)."""
    name = storable_text(filename)[:MAX_FILENAME]  # PostgreSQL cannot store NUL
    upload = AdminImport(
        created_by=actor,
        created_at=now,
        filename=name,
        format=fmt,
        content=text,
        state=CHECKING,
        lines_total=line_count(text),
        lines_done=0,
    )
    session.add(upload)
    session.flush()
    after = {"filename": name, "format": fmt, "lines": upload.lines_total}
    record_audit(session, actor, "import.upload", f"import {upload.id}", after=after, now=now)
    return upload.id


def request_apply(session: Session, import_id: int, actor: str, now: datetime) -> bool:
    """Mark a checked import to be applied (audited); False when it is not waiting for that.

    A second click, or two admins at once, find it applying already.
    """
    upload = session.get(AdminImport, import_id, with_for_update=True)
    if upload is None or upload.state not in APPLICABLE or not _dry_run(upload):
        return False
    before = {"state": upload.state, "dry_run": _counts(_dry_run(upload))}
    upload.state = APPLYING
    upload.lines_done = (upload.checkpoint or {}).get("line", 0)  # a failed apply resumes
    upload.error = None
    upload.report = dict(upload.report or {}) | {"applied_by": actor}
    record_audit(
        session, actor, "import.apply", f"import {import_id}", before, {"state": APPLYING}, now=now
    )
    return True


def run_import(runtime: Runtime, import_id: int) -> None:
    """Do what the import waits for: its dry run, or its apply; nothing once it is done.

    Safe to run twice: while one run works on an import, another returns at
    once, so the reconciler may wake every import still waiting.
    """
    with exclusive(runtime.engine, "admin_import", import_id) as mine:
        if not mine:
            return
        with runtime.sessions() as session:
            upload = session.get(AdminImport, import_id)
            if upload is None or upload.state not in RUNNING:
                return
            state, fmt, name = upload.state, upload.format, upload.filename
            content = upload.content
            stopped = Checkpoint(**upload.checkpoint) if upload.checkpoint else None
        try:
            if state == CHECKING:
                _check(runtime, import_id, fmt, name, content)
            else:
                _apply(runtime, import_id, fmt, name, content, stopped)
        except Exception as error:  # noqa: BLE001 - kept on the row, shown to the admin
            log.exception("admin import %d failed", import_id)
            _fail(runtime, import_id, state, error)


def _items(fmt: str, name: str, content: str) -> Iterator[tuple[int, Any]]:
    return read_subscription_stream(io.BytesIO(content.encode("utf-8")), fmt, name)


def _check(runtime: Runtime, import_id: int, fmt: str, name: str, content: str) -> None:
    with runtime.sessions() as session:
        # PostgreSQL shows the progress from another connection; SQLite, one writer
        # at a time, would wait for the dry run's own transaction to end.
        progress = _progress_elsewhere(runtime, import_id) if is_postgresql(session) else None
        with session.begin():
            report = import_subscriptions(
                session,
                _items(fmt, name, content),
                runtime.now(),
                dry_run=True,
                batch_size=BATCH,
                send_hour=runtime.settings.send_hour,
                checkpoint=progress,
            )
            session.execute(
                update(AdminImport)
                .where(AdminImport.id == import_id, AdminImport.state == CHECKING)
                .values(
                    state=CHECKED,
                    report={"dry_run": report_json(report)},
                    lines_done=AdminImport.lines_total,
                )
            )


def _apply(
    runtime: Runtime,
    import_id: int,
    fmt: str,
    name: str,
    content: str,
    stopped: Checkpoint | None,
) -> None:
    with runtime.sessions() as session:

        def reached(point: Checkpoint) -> None:
            """One batch applied: keep it, with its checkpoint."""
            session.execute(
                update(AdminImport)
                .where(AdminImport.id == import_id)
                .values(lines_done=point.line, checkpoint=asdict(point))
            )
            session.commit()

        report = import_subscriptions(
            session,
            _items(fmt, name, content),
            runtime.now(),
            batch_size=BATCH,
            send_hour=runtime.settings.send_hour,
            checkpoint=reached,
            resume_from=stopped,
        )
        upload = session.get(AdminImport, import_id)
        if upload is None:  # deleted meanwhile: the rows stay imported
            session.commit()
            return
        now = runtime.now()
        applied = report_json(report)
        upload.report = dict(upload.report or {}) | {"applied": applied}
        upload.state = APPLIED
        upload.applied_at = now
        upload.lines_done = upload.lines_total or 0
        upload.checkpoint = None
        actor = str((upload.report or {}).get("applied_by") or upload.created_by)
        record_audit(
            session, actor, "import.applied", f"import {import_id}", after=_counts(applied), now=now
        )
        session.commit()


def _progress_elsewhere(runtime: Runtime, import_id: int) -> Callable[[Checkpoint], None]:
    def reached(point: Checkpoint) -> None:
        with runtime.sessions() as other, other.begin():
            other.execute(
                update(AdminImport).where(AdminImport.id == import_id).values(lines_done=point.line)
            )

    return reached


def _fail(runtime: Runtime, import_id: int, state: str, error: Exception) -> None:
    what = "The dry run" if state == CHECKING else "Applying the file"
    message = f"{what} stopped: {type(error).__name__}: {error}"
    if state == APPLYING:
        message += (
            " The lines before the progress shown were applied; apply the file again "
            "to go on from there."
        )
    with runtime.sessions() as session, session.begin():
        session.execute(
            update(AdminImport)
            .where(AdminImport.id == import_id)
            .values(state=FAILED, error=message[:10_000])
        )


def report_json(report: ImportReport) -> dict[str, Any]:
    """An import report as the AdminImport row keeps it; rejected lines in line order."""
    rejected = sorted(report.rejected, key=lambda error: error.line)
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": [[error.line, error.reason] for error in rejected],
    }


def _dry_run(upload: AdminImport) -> dict[str, Any] | None:
    report = upload.report or {}
    return report.get("dry_run")


def _counts(report: dict[str, Any] | None) -> dict[str, int] | None:
    if report is None:
        return None
    return {
        "created": report["created"],
        "updated": report["updated"],
        "unchanged": report["unchanged"],
        "rejected": len(report["rejected"]),
    }
