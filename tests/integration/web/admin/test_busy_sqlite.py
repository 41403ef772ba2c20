"""On SQLite, console pages answer while a long write holds the database (an import's dry run).

The dry run of a big file is one transaction holding SQLite's only write
lock for as long as it reads the file (over a minute for 100,000 lines on a
busy machine).  Pages that only read must not queue behind it: in WAL mode
a reader sees the last commit without waiting; before, every request took
the write lock to read, waited SQLite's 30 s busy timeout, then answered 500.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import make_runtime
from tests.integration.web.admin.console import import_under_way, logged_in, open_console


def test_pages_that_only_read_do_not_wait_for_a_writer(sqlite_url: str, tmp_path: Path) -> None:
    runtime = make_runtime(sqlite_url, tmp_path)
    console = open_console(runtime)
    import_id = import_under_way(runtime, state="checking", lines_done=0, content="email,kind\n")
    path = f"/admin/import/{import_id}"
    client = logged_in(console)
    answers: dict[str, int] = {}

    def read_pages() -> None:
        for page in (path, "/admin/subscribers", "/admin/deadletters", "/admin/audit"):
            answers[page] = client.get(page).status_code

    writer = runtime.engine.connect()
    writer.begin()  # BEGIN IMMEDIATE (worker.core.db), held as a dry run holds it
    reader = threading.Thread(target=read_pages)
    try:
        reader.start()
        reader.join(timeout=20)  # a page that waited would wait the 30 s busy timeout
        assert not reader.is_alive(), "a page waited for the writer"
    finally:
        writer.rollback()
        writer.close()
        reader.join()
        runtime.close()
    assert set(answers.values()) == {200}, answers
