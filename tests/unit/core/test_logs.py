"""Log lines are JSON in one schema and never carry an email address or a link token."""

from __future__ import annotations

import io
import json
import logging
import sys

from worker.core.logs import JsonLines, bind, configure, email_hash, redact


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("worker.x", logging.ERROR, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_addresses_become_a_stable_hash() -> None:
    line = redact("sent to Ada.Lovelace+alerts@example.org and bob@example.co.uk")
    assert "@" not in line
    assert email_hash("ada.lovelace+alerts@example.org") in line
    assert redact("ADA.LOVELACE+alerts@Example.org") == email_hash(
        "ada.lovelace+alerts@example.org"
    )


def test_link_tokens_are_cut_from_every_kind_of_link() -> None:
    token = "eyJzIjo0MiwiayI6ImFiYyJ9.ZmFrZS1zaWduYXR1cmU"
    for path in ("/u/", "/u/s/", "/u/all/", "/preferences/", "/confirm/"):
        line = redact(f"POST https://alerts.example{path}{token}?x=1 200")
        assert token not in line
        assert f"https://alerts.example{path}…?x=1 200" in line
    assert redact("GET /signup 200") == "GET /signup 200"


def test_a_log_record_is_one_json_line_in_the_shared_schema() -> None:
    line = JsonLines("scheduler").format(_record("bounce from %s", "ada@example.org"))
    assert "\n" not in line
    parsed = json.loads(line)
    assert set(parsed) == {"time", "level", "process", "pid", "logger", "message"}
    assert parsed["level"] == "error" and parsed["process"] == "scheduler"
    assert parsed["message"].startswith("bounce from email:")
    assert parsed["time"].endswith("+00:00")


def test_ids_come_from_extra_and_from_the_message_being_worked() -> None:
    bind(actor="deliveries.send", message_id="m-1")
    try:
        parsed = json.loads(
            JsonLines("worker").format(_record("delivery %d failed", 7, delivery_id=7, other=1))
        )
    finally:
        bind()
    assert parsed["delivery_id"] == 7 and parsed["actor"] == "deliveries.send"
    assert parsed["message_id"] == "m-1" and "other" not in parsed
    assert "actor" not in json.loads(JsonLines().format(_record("later")))


def test_extra_values_are_scrubbed_too() -> None:
    line = JsonLines("web").format(_record("GET", path="/u/secret-token", status=200))
    parsed = json.loads(line)
    assert parsed["path"] == "/u/…" and parsed["status"] == 200


def test_configure_writes_json_lines_for_the_whole_process() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    try:
        configure("poller", logging.INFO, stream)
        logging.getLogger("worker.registry").info("polling %s", "https://x/confirm/abc")
        logging.getLogger("httpx").info("HTTP Request: GET …")  # quieted: one line per page
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        sys.excepthook = hook
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["polling https://x/confirm/…"]
    assert lines[0]["process"] == "poller"
