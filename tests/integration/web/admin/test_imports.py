"""Import and export in the console: upload, dry-run report, apply, progress, limits, encoding."""

from __future__ import annotations

import io
import re
import time
import tracemalloc
from pathlib import Path

from dramatiq import Message
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, stream_encode_multipart

from tests.conftest import REDIS_URL, make_runtime
from tests.integration.pipeline_helpers import subscribe
from tests.integration.web.admin.console import (
    ADMIN_EMAIL,
    Console,
    form_token,
    import_under_way,
    logged_in,
    open_console,
    post_form,
)
from worker.core.models import AdminImport, AuditEntry, Subscription
from worker.core.runtime import Runtime, set_runtime
from worker.queue.broker import drain
from worker.subscriptions.files import write_subscription_file
from worker.subscriptions.lists import export_subscriptions

GOOD_AND_ONE_BAD = (
    "email,kind,condition,frequency\n"
    "ada@example.org,condition,lung cancer,daily\n"
    "bob@example.org,condition,asthma,hourly\n"
    "cy@example.org,study,,weekly\n"
    "dan@example.org,condition,<b>melanoma</b>,weekly\n"
)


def _upload(client: FlaskClient, data: bytes, name: str) -> TestResponse:
    token = form_token(client, "/admin/import")
    # Encoded in memory: the test client would spool a big body to a file it never closes.
    upload = FileStorage(io.BytesIO(data), filename=name, content_type="text/csv")
    fields = {"csrf_token": token, "file": upload}
    body, length, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return client.post(
        "/admin/import",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def _settled(client: FlaskClient, path: str) -> str:
    """The import's page once its background work is done (it reloads itself till then)."""
    deadline = time.monotonic() + 20
    while True:
        page = client.get(path)
        assert page.status_code == 200
        if 'http-equiv="refresh"' not in page.text:
            return page.text
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.05)


def _count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Subscription)) or 0


def test_upload_shows_the_dry_run_with_the_bad_line_then_applies_the_rest(
    console: Console,
) -> None:
    client = logged_in(console)
    runtime = console.runtime

    uploaded = _upload(client, GOOD_AND_ONE_BAD.encode(), "list <1>.csv")
    assert uploaded.status_code == 303
    path = uploaded.location
    report = _settled(client, path)

    assert "Dry run" in report and "Nothing has been written yet" in report
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="number">([\d,]+)</td>', report))
    assert rows["Subscriptions to add"] == "2"
    assert rows["Lines rejected"] == "2"
    rejected = re.findall(r'<tr><td class="number">(\d+)</td><td>([^<]*)</td></tr>', report)
    assert [line for line, _ in rejected] == ["3", "4"]
    assert "frequency" in rejected[0][1] and "hourly" in rejected[0][1]
    assert "list &lt;1&gt;.csv" in report and "list <1>.csv" not in report
    assert _count(runtime) == 0

    applied = post_form(client, f"{path}/apply", {})
    assert applied.status_code == 303
    final = _settled(client, path)
    assert "Applied on" in final
    assert _count(runtime) == 2
    again = post_form(client, f"{path}/apply", {})
    assert again.status_code == 303 and _count(runtime) == 2

    lines = client.get(f"{path}/rejected.txt").text.splitlines()
    assert lines[0].startswith("line 3: ") and lines[1].startswith("line 4: ")
    with runtime.sessions() as session:
        actions = session.execute(
            select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id)
        ).all()
    assert [tuple(a) for a in actions if a.action.startswith("import.")] == [
        (ADMIN_EMAIL, "import.upload"),
        (ADMIN_EMAIL, "import.apply"),
        (ADMIN_EMAIL, "import.applied"),
    ]


def test_a_file_over_the_limit_is_refused_with_413_and_a_page_saying_so(
    database_url: str, tmp_path: Path, stub_broker: object
) -> None:
    runtime = make_runtime(database_url, tmp_path, admin_upload_mb=1)
    console = open_console(runtime)
    client = logged_in(console)
    big = GOOD_AND_ONE_BAD.encode() + b"x" * (1024 * 1024)

    answer = _upload(client, big, "big.csv")

    assert answer.status_code == 413
    assert "at most 1 MB" in answer.text and "TRIALALERTS_ADMIN_UPLOAD_MB" in answer.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AdminImport)) == 0
    runtime.close()


def test_a_file_in_another_encoding_gets_a_clear_report_and_nothing_is_kept(
    console: Console,
) -> None:
    client = logged_in(console)
    latin1 = "email,kind,condition\nada@example.org,condition,Ménière disease\n".encode("latin-1")

    answer = _upload(client, latin1, "export.csv")

    assert answer.status_code == 422
    assert "The file is not UTF-8 text: line 2 hold" in answer.text
    assert "CSV UTF-8" in answer.text
    utf16 = _upload(client, "email,kind\n".encode("utf-16"), "export.csv")
    assert utf16.status_code == 422 and "UTF-16" in utf16.text
    unknown = _upload(client, b"email,kind,frequncy\n", "x.csv")
    assert unknown.status_code == 422 and "unknown column(s) &#39;frequncy&#39;" in unknown.text
    with console.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AdminImport)) == 0


def test_running_work_shows_its_progress_and_reloads_itself(console: Console) -> None:
    import_id = import_under_way(console.runtime, state="applying", lines_done=40_001)
    client = logged_in(console)

    page = client.get(f"/admin/import/{import_id}")

    assert '<meta http-equiv="refresh" content="2">' in page.text
    assert "40,001 of 100,001 lines" in page.text
    assert '<progress max="100001" value="40001"' in page.text


def test_the_page_that_reloads_itself_leaves_the_file_in_the_database(console: Console) -> None:
    """It reloads every 2 s while a file of up to 50 MB is applied: it reads the row only."""
    content = "email,kind,condition\n" + "p@example.org,condition,asthma\n" * 130_000
    import_id = import_under_way(
        console.runtime, state="applying", lines_done=1_001, lines_total=130_001, content=content
    )
    client = logged_in(console)

    tracemalloc.start()
    try:
        page = client.get(f"/admin/import/{import_id}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert "1,001 of 130,001 lines" in page.text
    assert peak < len(content) / 2, (peak, len(content))


def test_export_downloads_the_cli_file_formula_safe_and_audited(console: Console) -> None:
    runtime = console.runtime
    subscribe(
        runtime,
        [
            {"email": "ada@example.org", "kind": "condition", "condition": "=1+2"},
            {"email": "bob@example.org", "kind": "condition", "condition": "+asthma"},
        ],
    )
    client = logged_in(console)
    assert 'name="format"' in client.get("/admin/export").text

    with post_form(client, "/admin/export", {"format": "csv"}) as answer:
        assert answer.status_code == 200
        disposition = answer.headers["Content-Disposition"]
        csv = answer.text
    with post_form(client, "/admin/export", {"format": "jsonl"}) as answer:
        jsonl = answer.text

    assert disposition.startswith("attachment; filename=trialalerts-subscriptions-")
    expected = io.StringIO()
    with runtime.sessions() as session:
        write_subscription_file(export_subscriptions(session), expected, "csv")
    assert csv == expected.getvalue()
    assert "'=1+2" in csv and "'+asthma" in csv
    assert jsonl.count("\n") == 2 and '"condition": "=1+2"' in jsonl
    with runtime.sessions() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.after).where(
                AuditEntry.action == "subscriptions.export"
            )
        ).all()
    assert [tuple(entry) for entry in entries] == [
        ("subscriptions.export", {"format": "csv", "subscriptions": 2}),
        ("subscriptions.export", {"format": "jsonl", "subscriptions": 2}),
    ]


def test_with_a_broker_the_work_goes_to_a_worker_as_an_imports_run_message(
    database_url: str, tmp_path: Path, stub_broker: StubBroker
) -> None:
    """Not embedded: no thread in the web process; a message names the import for a worker."""
    runtime = make_runtime(database_url, tmp_path, broker_url=REDIS_URL)
    set_runtime(runtime)
    try:
        client = logged_in(open_console(runtime))
        uploaded = _upload(client, GOOD_AND_ONE_BAD.encode(), "list.csv")
        assert "Checking (dry run)" in client.get(uploaded.location).text
        [message] = [Message.decode(m) for m in list(stub_broker.queues["imports"].queue)]
        assert (message.actor_name, message.args) == ("imports.run", ([1],))

        drain(stub_broker)

        assert "Subscriptions to add" in _settled(client, uploaded.location)
    finally:
        set_runtime(None)
        runtime.close()


def test_nul_in_a_file_name_is_kept_as_a_replacement_character(console: Console) -> None:
    client = logged_in(console)

    answer = _upload(client, GOOD_AND_ONE_BAD.encode(), "list\x00.csv")

    assert answer.status_code == 303
    with console.runtime.sessions() as session:
        assert session.scalar(select(AdminImport.filename)) == "list\ufffd.csv"
    _settled(client, answer.location)
