"""Opening any console page changes nothing: every GET route of /admin, found in the URL map.

Changes are POSTs with a CSRF token (and written to the audit log); a page a
browser prefetches or an admin reloads must leave every table as it was.
"""

from __future__ import annotations

from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from tests.integration.pipeline_helpers import publish_at, subscribe
from tests.integration.web.admin.console import Console, logged_in
from tests.integration.web.admin.test_subscribers import SUNDAY_EVENING
from tests.support import event, record
from worker.core.models import AdminImport, Base, DeadLetter, Subscriber
from worker.core.runtime import Runtime
from worker.ingest.deadletters import dead_letter, store_dead_letters
from worker.subscriptions.uploads import accept_upload, run_import, store_upload


def _everything(runtime: Runtime) -> dict[str, list[Any]]:
    with runtime.sessions() as session:
        return {
            table.name: [
                tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))
            ]
            for table in Base.metadata.sorted_tables
        }


def test_no_console_page_changes_anything(console: Console, stub_broker: StubBroker) -> None:
    runtime = console.runtime
    subscribe(
        runtime, [{"email": "ada@example.org", "kind": "condition", "condition": "lung cancer"}]
    )
    publish_at(runtime, stub_broker, SUNDAY_EVENING, event(record("NCT04267848"), "e1"))
    fmt, text = accept_upload(b"email,kind,condition\nbo@example.org,condition,asthma\n", "a.csv")
    with runtime.sessions() as session, session.begin():
        import_id = store_upload(session, "root@example.org", "a.csv", fmt, text, runtime.now())
        store_dead_letters(session, [dead_letter("x.jsonl", 1, None, "bad", "{}", runtime.now())])
    run_import(runtime, import_id)
    with runtime.sessions() as session:
        values = {
            "subscriber_id": session.scalar(select(Subscriber.id)),
            "import_id": session.scalar(select(AdminImport.id)),
            "letter_id": session.scalar(select(DeadLetter.id)),
            "frequency": "daily",
        }
    client = logged_in(console)
    app = console.app
    adapter = app.url_map.bind("localhost")
    paths = [
        adapter.build(rule.endpoint, {name: values[name] for name in rule.arguments})
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "GET" in (rule.methods or ())
    ]
    before = _everything(runtime)

    for path in paths:
        assert client.get(path).status_code == 200, path
        assert client.head(path).status_code == 200, path

    assert _everything(runtime) == before
    assert {"/admin/subscribers", "/admin/import", "/admin/export", "/admin/deadletters"} <= set(
        paths
    )
