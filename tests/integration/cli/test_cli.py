"""The `trialalerts` command as users run it: a subprocess with environment settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import event, real_record_names, record, write_jsonl

TRIALALERTS = [sys.executable, "-m", "worker"]


def trialalerts(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    full_env.update(env or {})
    return subprocess.run(
        [*TRIALALERTS, *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    lines = [event(record(name), f"evt-{name}") for name in real_record_names()]
    no_nct = record("NCT00973089")
    del no_nct["protocolSection"]["identificationModule"]["nctId"]
    path = write_jsonl(tmp_path / "events.jsonl", [*lines, event(no_nct, "evt-no-nct")])
    with path.open("a") as handle:
        handle.write("{this is not json\n")
    return path


def test_publish_run_and_deadletters_on_embedded_defaults(
    tmp_path: Path, events_file: Path
) -> None:
    first = trialalerts("publish", str(events_file), cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert "7 accepted, 0 duplicate, 2 rejected" in first.stdout
    assert "line 8 event 'evt-no-nct'" in first.stderr and "nctId" in first.stderr
    assert "line 9: not valid JSON" in first.stderr
    run = trialalerts("run", "--until-idle", "--now", "2026-06-27T10:00:00Z", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "events: 7" in run.stdout and "changes: 7" in run.stdout
    second = trialalerts("publish", str(events_file), cwd=tmp_path)
    assert "0 accepted, 7 duplicate, 2 rejected" in second.stdout
    listed = trialalerts("deadletters", "list", cwd=tmp_path)
    rows = listed.stdout.strip().splitlines()
    assert len(rows) == 2 and "evt-no-nct" in rows[0] and "line 9" in rows[1]
    assert (tmp_path / "trialalerts.db").exists()


def test_publish_reads_stdin_json_arrays(tmp_path: Path) -> None:
    payload = json.dumps([event(record("NCT00973089"), "s1"), event(record("NCT02210780"), "s2")])
    result = trialalerts("publish", "-", cwd=tmp_path, stdin=payload)
    assert result.returncode == 0 and "2 accepted" in result.stdout


def test_run_uses_now_as_the_clock_for_ingest(tmp_path: Path, events_file: Path) -> None:
    import sqlite3

    trialalerts("publish", str(events_file), cwd=tmp_path, env={})
    trialalerts("run", "--until-idle", "--now", "2030-01-02T03:04:05Z", cwd=tmp_path)
    with sqlite3.connect(tmp_path / "trialalerts.db") as db:
        stamps = {row[0] for row in db.execute("SELECT ingested_at FROM received_events")}
    assert stamps == {"2030-01-02 03:04:05.000000"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRIALALERTS_EMAIL_BACKEND", "carrier-pigeon"),
        ("TRIALALERTS_DATABASE_URL", "mysql://x"),
        ("TRIALALERTS_SES_MAX_RATE", "fast"),
        ("TRIALALERTS_BROKER_URL", "kafka://x"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_2(
    tmp_path: Path, name: str, value: str
) -> None:
    result = trialalerts("deadletters", "list", cwd=tmp_path, env={name: value})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and name in result.stderr


def test_workers_on_rabbitmq_without_the_shared_redis_stop_at_start_with_exit_2(
    tmp_path: Path,
) -> None:
    rabbitmq = {"TRIALALERTS_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/"}
    result = trialalerts("worker", cwd=tmp_path, env=rabbitmq)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "TRIALALERTS_REDIS_URL" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert trialalerts("publish", "missing.jsonl", cwd=tmp_path).returncode == 2
    assert trialalerts("run", "--now", "not-a-date", "--until-idle", cwd=tmp_path).returncode == 2


def test_db_upgrade_and_publish_on_postgresql(
    tmp_path: Path, pg_url: str, events_file: Path
) -> None:
    from tests.conftest import _truncate

    _truncate(pg_url)
    env = {"TRIALALERTS_DATABASE_URL": pg_url}
    assert trialalerts("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    published = trialalerts("publish", str(events_file), cwd=tmp_path, env=env)
    assert "7 accepted" in published.stdout
    run = trialalerts("run", "--until-idle", cwd=tmp_path, env=env)
    assert run.returncode == 0 and "changes: 7" in run.stdout


def test_demo_runs_the_whole_pipeline_in_an_empty_folder(tmp_path: Path) -> None:
    result = trialalerts("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    emails = [line.split() for line in lines if " digest to " in line]
    assert [(email[0], email[3]) for email in emails] == [
        ("instant", "ben@example.org"),
        ("instant", "fay@example.org"),
        ("daily", "ada@example.org"),
        ("weekly", "carla@example.org"),
        ("weekly", "gil@example.org"),  # age 17: one of the three melanoma studies
        ("instant", "fay@example.org"),
    ]
    for email in emails:
        assert Path(email[-1]).is_file()
    assert any("gil@example.org" in line and "open to age 17" in line for line in lines)
    subjects = {
        line.split()[3]: lines[n + 1].strip()
        for n, line in enumerate(lines)
        if " digest to " in line
    }
    assert subjects["carla@example.org"] == "3 new studies for your clinical trial alerts"
    assert subjects["gil@example.org"] == "1 new study for your clinical trial alerts"
    opened = "A site opened near you: Katmai Oncology Group, Anchorage, United States"
    assert sum(opened in line for line in lines) == 1
    preview = (tmp_path / "preview.html").read_text()
    assert preview.startswith("<!DOCTYPE html>") and "Katmai Oncology Group" in preview
    assert "rejected (kept as a dead letter): line 6 event 'demo-broken'" in result.stdout
    again = trialalerts("demo", cwd=tmp_path)
    assert again.returncode == 2 and "empty folder" in again.stderr


def test_digests_preview_prints_the_digest_and_writes_html(tmp_path: Path) -> None:
    subs = tmp_path / "subs.csv"
    subs.write_text("email,kind,condition\nada@example.org,condition,lung cancer\n")
    events = write_jsonl(tmp_path / "e.jsonl", [event(record("NCT04267848"), "p1")])
    assert trialalerts("subscribers", "import", str(subs), cwd=tmp_path).returncode == 0
    trialalerts("publish", str(events), cwd=tmp_path)
    trialalerts("run", "--until-idle", "--now", "2026-06-28T18:00:00Z", cwd=tmp_path)
    html = tmp_path / "p.html"
    result = trialalerts(
        "digests",
        "preview",
        "ADA@example.org",
        "--now",
        "2026-06-29T09:00:00Z",
        "--html",
        str(html),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "=== daily digest (due now)" in result.stdout and "NCT04267848" in result.stdout
    assert "clinicaltrials.gov/study/NCT04267848" in html.read_text()
    unknown = trialalerts("digests", "preview", "nobody@example.org", cwd=tmp_path)
    assert unknown.returncode == 1


@pytest.mark.parametrize("text", ["٣", "²", "1" * 30, "0"])
def test_a_dead_letter_id_that_is_no_id_is_a_usage_error(tmp_path: Path, text: str) -> None:
    result = trialalerts("deadletters", "replay", text, cwd=tmp_path)
    assert result.returncode == 2
    assert "is not an id" in result.stderr and "Traceback" not in result.stderr
