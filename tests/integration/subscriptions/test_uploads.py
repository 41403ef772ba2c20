"""Console imports on real databases: dry run, apply on a second click, progress, failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import event, func, select

from worker.core.exclusive import exclusive
from worker.core.models import AdminImport, AuditEntry, Subscription
from worker.core.runtime import Runtime
from worker.queue.broker import drain
from worker.queue.runner import wake_stranded
from worker.subscriptions import uploads
from worker.subscriptions.uploads import (
    accept_upload,
    request_apply,
    run_import,
    store_upload,
)

ADMIN = "admin@example.org"


def _csv(rows: int, bad_line: int | None = None) -> bytes:
    lines = ["email,kind,condition,frequency"]
    for n in range(rows):
        line = len(lines) + 1
        frequency = "hourly" if line == bad_line else "daily"
        lines.append(f"p{n}@example.org,condition,asthma,{frequency}")
    return ("\n".join(lines) + "\n").encode()


def _upload(runtime: Runtime, data: bytes, name: str = "list.csv") -> int:
    fmt, text = accept_upload(data, name)
    with runtime.sessions() as session, session.begin():
        return store_upload(session, ADMIN, name, fmt, text, runtime.now())


def _row(runtime: Runtime, import_id: int) -> AdminImport:
    with runtime.sessions() as session:
        found = session.get(AdminImport, import_id)
        assert found is not None
        session.expunge(found)
        return found


def _subscriptions(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Subscription)) or 0


def _apply(runtime: Runtime, import_id: int, actor: str = ADMIN) -> bool:
    with runtime.sessions() as session, session.begin():
        return request_apply(session, import_id, actor, runtime.now())


def test_dry_run_names_the_bad_line_then_applying_adds_the_rest(runtime: Runtime) -> None:
    import_id = _upload(runtime, _csv(4, bad_line=3))
    assert _row(runtime, import_id).state == "checking"

    run_import(runtime, import_id)

    checked = _row(runtime, import_id)
    assert checked.state == "checked"
    dry_run = checked.report["dry_run"]
    assert (dry_run["created"], dry_run["updated"], dry_run["unchanged"]) == (3, 0, 0)
    [(line, reason)] = dry_run["rejected"]
    assert line == 3 and "frequency" in reason and "hourly" in reason
    assert _subscriptions(runtime) == 0
    assert (checked.lines_done, checked.lines_total) == (5, 5)

    assert _apply(runtime, import_id, "other@example.org")
    assert not _apply(runtime, import_id), "a second click starts nothing"
    run_import(runtime, import_id)
    run_import(runtime, import_id)  # a repeated message finds it applied: nothing happens

    applied = _row(runtime, import_id)
    assert applied.state == "applied" and applied.applied_at is not None
    assert applied.report["applied"]["created"] == 3
    assert applied.report["applied"]["rejected"] == dry_run["rejected"]
    assert _subscriptions(runtime) == 3
    with runtime.sessions() as session:
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target).order_by(AuditEntry.id)
        ).all()
    target = f"import {import_id}"
    assert [tuple(entry) for entry in entries] == [
        (ADMIN, "import.upload", target),
        ("other@example.org", "import.apply", target),
        ("other@example.org", "import.applied", target),
    ]


def test_applying_commits_each_batch_with_the_line_it_reached(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "BATCH", 10)
    import_id = _upload(runtime, _csv(35))
    run_import(runtime, import_id)
    assert _apply(runtime, import_id)
    seen: list[tuple[int, int]] = []

    def committed(_session: Any) -> None:
        with runtime.engine.connect() as other:
            done = other.scalar(select(AdminImport.lines_done).where(AdminImport.id == import_id))
            rows = other.scalar(select(func.count()).select_from(Subscription))
            seen.append((done or 0, rows or 0))

    event.listen(runtime.sessions, "after_commit", committed)
    try:
        run_import(runtime, import_id)
    finally:
        event.remove(runtime.sessions, "after_commit", committed)

    # Each commit holds a batch and the line it reached (data starts on line 2).
    assert seen == [(11, 10), (21, 20), (31, 30), (36, 35), (36, 35)]


def test_a_failure_half_way_is_kept_and_applying_again_completes_the_file(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "BATCH", 10)
    import_id = _upload(runtime, _csv(30))
    run_import(runtime, import_id)
    assert _apply(runtime, import_id)
    reading = uploads._items

    def breaks_after_15(fmt: str, name: str, content: str) -> Iterator[tuple[int, Any]]:
        for count, item in enumerate(reading(fmt, name, content), start=1):
            if count > 15:
                raise OSError("the disk is full")
            yield item

    monkeypatch.setattr(uploads, "_items", breaks_after_15)
    run_import(runtime, import_id)

    failed = _row(runtime, import_id)
    assert failed.state == "failed"
    assert "OSError: the disk is full" in (failed.error or "")
    assert "apply the file again" in (failed.error or "")
    assert failed.lines_done == 11
    assert _subscriptions(runtime) == 10

    monkeypatch.setattr(uploads, "_items", reading)
    assert _apply(runtime, import_id)
    run_import(runtime, import_id)

    done = _row(runtime, import_id)
    assert done.state == "applied" and done.error is None
    # It went on after its last batch: the ten lines applied before count as added.
    assert (done.report["applied"]["created"], done.report["applied"]["unchanged"]) == (30, 0)
    assert _subscriptions(runtime) == 30


class Killed(BaseException):
    """What a killed process or dramatiq's time limit does to an import: nothing is caught."""


def test_an_apply_killed_between_batches_resumes_after_its_last_batch_with_its_counts(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "BATCH", 10)
    lines = _csv(30, bad_line=4).decode().splitlines(keepends=True)
    lines.append(lines[-1])  # line 32 repeats line 31, across the interruption
    lines.insert(14, lines[3])  # line 15 repeats line 4 (rejected)
    import_id = _upload(runtime, "".join(lines).encode())
    run_import(runtime, import_id)
    dry_run = _row(runtime, import_id).report["dry_run"]
    assert _apply(runtime, import_id)
    reading = uploads._items

    def killed_after_25(fmt: str, name: str, content: str) -> Iterator[tuple[int, Any]]:
        for count, item in enumerate(reading(fmt, name, content), start=1):
            if count > 25:
                raise Killed
            yield item

    monkeypatch.setattr(uploads, "_items", killed_after_25)
    with pytest.raises(Killed):
        run_import(runtime, import_id)
    stopped = _row(runtime, import_id)
    assert (stopped.state, stopped.lines_done) == ("applying", 21)
    kept = _subscriptions(runtime)

    monkeypatch.setattr(uploads, "_items", reading)
    progress: list[int] = []

    def committed(_session: Any) -> None:
        with runtime.engine.connect() as other:
            done = other.scalar(select(AdminImport.lines_done).where(AdminImport.id == import_id))
            progress.append(done or 0)

    event.listen(runtime.sessions, "after_commit", committed)
    try:
        run_import(runtime, import_id)  # as the reconciler's wake-up does
    finally:
        event.remove(runtime.sessions, "after_commit", committed)

    applied = _row(runtime, import_id).report["applied"]
    assert applied == dry_run
    assert (applied["created"], applied["unchanged"], len(applied["rejected"])) == (29, 1, 2)
    assert _subscriptions(runtime) == 29 and kept == 18
    assert progress == [31, 33, 33], "it went on from line 21, never back"
    with runtime.sessions() as session:
        counts = session.scalar(
            select(AuditEntry.after).where(AuditEntry.action == "import.applied")
        )
    assert counts == {"created": 29, "updated": 0, "unchanged": 1, "rejected": 2}


def test_the_reconciler_wakes_an_import_whose_wake_up_was_lost(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    import_id = _upload(runtime, _csv(3))  # stored, but no message and no thread started

    assert wake_stranded(runtime, None) == 1
    with exclusive(runtime.engine, "admin_import", import_id):
        drain(stub_broker)  # a run while another holds the import does nothing
    assert _row(runtime, import_id).state == "checking"

    wake_stranded(runtime, None)
    drain(stub_broker)
    assert _row(runtime, import_id).state == "checked"
    assert wake_stranded(runtime, None) == 0
