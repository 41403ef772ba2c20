"""Stored text printed by the CLI can never drive the admin's terminal.

Event ids, reasons and payloads come from strangers: an escape sequence in a
dead letter's event id must be shown, not run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.cli.test_cli import trialalerts
from tests.support import event, record

HOSTILE_ID = "evt-\x1b[2J\x1b]0;pwned\x07-\u202egnp.exe-\x9b31m"


def test_deadletters_and_publish_show_control_characters_escaped(
    database_url: str, tmp_path: Path
) -> None:
    env = {"TRIALALERTS_DATABASE_URL": database_url, "TRIALALERTS_SECRET_KEY": "k" * 32}
    if database_url.startswith("postgresql"):
        assert trialalerts("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    bad = event(record("NCT04267848"), HOSTILE_ID)
    del bad["source"]
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(bad) + "\n")

    published = trialalerts("publish", str(path), cwd=tmp_path, env=env)
    listed = trialalerts("deadletters", "list", cwd=tmp_path, env=env)
    replayed = trialalerts("deadletters", "replay", cwd=tmp_path, env=env)

    assert published.returncode == 1 and listed.returncode == 0 and replayed.returncode == 1
    for output in (published.stderr, listed.stdout, replayed.stderr):
        assert not any(char in output for char in "\x1b\x07\x9b\u202e"), repr(output)
    assert "evt-\\x1b[2J\\x1b]0;pwned\\x07-\\u202egnp.exe-\\x9b31m" in listed.stdout
