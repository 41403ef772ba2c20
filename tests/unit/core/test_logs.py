"""Log lines are JSON and never carry an email address."""

from __future__ import annotations

import json
import logging

from worker.core.logs import JsonLines, email_hash, redact


def test_addresses_become_a_stable_hash() -> None:
    line = redact("sent to Ada.Lovelace+alerts@example.org and bob@example.co.uk")
    assert "@" not in line
    assert email_hash("ada.lovelace+alerts@example.org") in line
    assert redact("ADA.LOVELACE+alerts@Example.org") == email_hash(
        "ada.lovelace+alerts@example.org"
    )


def test_a_log_record_is_one_json_line_without_addresses() -> None:
    record = logging.LogRecord(
        "worker.x", logging.ERROR, __file__, 1, "bounce from %s", ("ada@example.org",), None
    )
    line = JsonLines().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "error" and parsed["msg"].startswith("bounce from email:")
