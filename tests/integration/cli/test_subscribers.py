"""`trialalerts subscribers …` as admins run it: a subprocess with environment settings."""

from __future__ import annotations

import csv
import email
import email.policy
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from tests.support import event, record, write_jsonl

TRIALALERTS = [sys.executable, "-m", "worker"]
HEADER = "email,kind,condition,nct_id,frequency,statuses,countries,near,timezone"
GOOD_CSV = "\n".join(
    [
        HEADER,
        'Ada@Example.com,condition,"lung cancer, small cell",,weekly,,,,',
        "",
        "bob@example.com,study,,NCT07635641,instant,,,,Europe/Rome",
        'fay@example.com,condition,Breast Cancer,,,recruiting,"Italy;France","45.1,9.2,50",',
    ]
)


def trialalerts(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    full_env.update(env or {})
    return subprocess.run(
        [*TRIALALERTS, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_bad_rows_are_reported_by_line_the_rest_is_imported_and_the_exit_is_1(
    tmp_path: Path,
) -> None:
    text = "\n".join(
        [
            GOOD_CSV,  # lines 1-5, with a blank line 3
            "cid@example.com,condition,lung cancer,,,,,,Mars/Base",  # 6
            "dan@example.com,study,,NCT123,,,,,",  # 7
            "eve@example.com,condition,the and of,,,,,,",  # 8
        ]
    )
    path = write(tmp_path / "subscribers.csv", text + "\n", bom=True)
    first = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert first.stdout.strip() == "3 created, 0 updated, 0 unchanged, 3 rejected"
    errors = first.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in errors] == ["line 6", "line 7", "line 8"]
    assert "timezone 'Mars/Base'" in errors[0]
    assert "nct_id 'NCT123'" in errors[1] and "NCT followed by 8 digits" in errors[1]
    assert "'the and of'" in errors[2]
    again = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert again.returncode == 1
    assert again.stdout.strip() == "0 created, 0 updated, 3 unchanged, 3 rejected"


def test_a_dry_run_counts_but_writes_nothing_then_the_real_run_writes(tmp_path: Path) -> None:
    path = write(tmp_path / "subscribers.jsonl", _as_jsonl(GOOD_CSV))
    dry = trialalerts("subscribers", "import", "--dry-run", str(path), cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == (
        "3 created, 0 updated, 0 unchanged, 0 rejected (dry run: nothing written)"
    )
    empty = trialalerts("subscribers", "list", cwd=tmp_path)
    assert (empty.returncode, empty.stdout, empty.stderr.strip()) == (0, "", "no subscriptions")
    real = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert (real.returncode, real.stdout.strip()) == (
        0,
        "3 created, 0 updated, 0 unchanged, 0 rejected",
    )
    listed = trialalerts("subscribers", "list", cwd=tmp_path)
    assert len(listed.stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("typo.csv", "email,kind,condition,frequncy\n", "'frequncy'"),
        ("no-kind.csv", "email,condition\n", "missing required column(s) kind"),
        ("subscribers.txt", GOOD_CSV, "unknown file type '.txt'"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_exits_2_and_says_why(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path / name, text)
    result = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr and name in result.stderr
    assert result.stdout == ""


def test_a_missing_input_file_or_output_folder_exits_2(tmp_path: Path) -> None:
    result = trialalerts("subscribers", "import", "nowhere.csv", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere.csv" in result.stderr
    result = trialalerts("subscribers", "export", "-o", "missing/out.csv", cwd=tmp_path)
    assert result.returncode == 2 and "missing/out.csv: cannot write" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_an_export_to_a_pipe_or_device_writes_into_it_and_leaves_it_in_place(
    tmp_path: Path,
) -> None:
    trialalerts("subscribers", "import", str(write(tmp_path / "in.csv", GOOD_CSV)), cwd=tmp_path)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text(encoding="utf-8")))
    reader.start()
    result = trialalerts("subscribers", "export", "-o", str(pipe), cwd=tmp_path)
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert pipe.is_fifo()  # not renamed over by a regular file
    assert received[0].splitlines()[0].startswith("email,kind,condition")
    assert len(received[0].splitlines()) == 4


def test_export_writes_what_import_reads_back_unchanged(tmp_path: Path) -> None:
    trialalerts("subscribers", "import", str(write(tmp_path / "in.csv", GOOD_CSV)), cwd=tmp_path)
    to_stdout = trialalerts("subscribers", "export", cwd=tmp_path)
    assert to_stdout.returncode == 0
    assert to_stdout.stdout.splitlines() == [
        HEADER + ",age,sex,healthy_volunteers,phases,study_types",
        'ada@example.com,condition,"lung cancer, small cell",,weekly,,,,UTC,,,,,',
        "bob@example.com,study,,NCT07635641,instant,,,,Europe/Rome,,,,,",
        "fay@example.com,condition,Breast Cancer,,daily,RECRUITING,France;Italy,"
        '"45.1,9.2,50.0",UTC,,,,,',
    ]
    assert to_stdout.stderr.strip() == "3 subscriptions exported"
    to_file = trialalerts("subscribers", "export", "-o", "out.jsonl", cwd=tmp_path)
    assert to_file.returncode == 0 and to_file.stdout == ""
    exported = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["email"] for line in exported] == [
        "ada@example.com",
        "bob@example.com",
        "fay@example.com",
    ]
    as_jsonl = trialalerts("subscribers", "export", "--format", "jsonl", cwd=tmp_path)
    assert as_jsonl.stdout.splitlines() == exported
    back = trialalerts("subscribers", "import", "out.jsonl", cwd=tmp_path)
    assert (back.returncode, back.stdout.strip()) == (
        0,
        "0 created, 0 updated, 3 unchanged, 0 rejected",
    )


def test_list_and_remove_take_an_email_in_any_case(tmp_path: Path) -> None:
    trialalerts("subscribers", "import", str(write(tmp_path / "in.csv", GOOD_CSV)), cwd=tmp_path)
    bob = trialalerts("subscribers", "list", "--email", "BOB@example.com", cwd=tmp_path)
    assert bob.returncode == 0
    assert bob.stdout.splitlines() == [
        "bob@example.com\tstudy\tNCT07635641\tinstant\t-\tEurope/Rome\tactive,confirmed"
    ]
    removed = trialalerts("subscribers", "remove", "Bob@Example.COM", cwd=tmp_path)
    assert (removed.returncode, removed.stdout.strip()) == (
        0,
        "removed bob@example.com and 1 subscription",
    )
    gone = trialalerts("subscribers", "list", "--email", "bob@example.com", cwd=tmp_path)
    assert (gone.returncode, gone.stderr.strip()) == (1, "no subscriber bob@example.com")
    again = trialalerts("subscribers", "remove", "bob@example.com", cwd=tmp_path)
    assert (again.returncode, again.stderr.strip()) == (1, "no subscriber bob@example.com")
    left = trialalerts("subscribers", "list", cwd=tmp_path)
    assert [line.split("\t")[0] for line in left.stdout.splitlines()] == [
        "ada@example.com",
        "fay@example.com",
    ]


def test_an_address_that_is_no_address_is_a_usage_error(tmp_path: Path) -> None:
    result = trialalerts("subscribers", "remove", "not-an-address", cwd=tmp_path)
    assert result.returncode == 2 and "not-an-address" in result.stderr


def test_a_big_import_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    rows = [f"user{n}@example.com,study,,NCT{n:08d},,,,," for n in range(25_000)]
    path = write(tmp_path / "big.csv", "\n".join([HEADER, *rows]) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    shown: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(main, shown))
    try:
        process = subprocess.Popen(
            [*TRIALALERTS, "subscribers", "import", str(path)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
        )
        os.close(terminal)
        reader.start()
        stdout, _ = process.communicate(timeout=300)
        reader.join(timeout=10)
    finally:
        os.close(main)
    assert process.returncode == 0
    assert stdout.strip() == "25000 created, 0 updated, 0 unchanged, 0 rejected"
    progress = b"".join(shown).decode(errors="replace")
    assert "line/s" in progress or "lines/s" in progress


def test_import_export_and_remove_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    from tests.conftest import _truncate

    _truncate(pg_url)
    env = {"TRIALALERTS_DATABASE_URL": pg_url}
    path = write(tmp_path / "in.csv", GOOD_CSV)
    imported = trialalerts("subscribers", "import", str(path), cwd=tmp_path, env=env)
    assert imported.stdout.strip() == "3 created, 0 updated, 0 unchanged, 0 rejected"
    exported = trialalerts("subscribers", "export", "-o", "out.csv", cwd=tmp_path, env=env)
    assert exported.returncode == 0
    sqlite_side = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert sqlite_side.returncode == 0
    from_sqlite = trialalerts("subscribers", "export", cwd=tmp_path)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == from_sqlite.stdout
    removed = trialalerts("subscribers", "remove", "ada@example.com", cwd=tmp_path, env=env)
    assert removed.returncode == 0
    listed = trialalerts("subscribers", "list", cwd=tmp_path, env=env)
    assert len(listed.stdout.splitlines()) == 2


def _as_jsonl(csv_text: str) -> str:
    """The GOOD_CSV rows as JSONL objects (only the cells given), blank lines kept."""
    lines = csv_text.splitlines()
    columns = lines[0].split(",")
    out = []
    for cells in csv.reader(lines[1:]):
        given = {name: cell for name, cell in zip(columns, cells, strict=False) if cell}
        out.append(json.dumps(given) if given else "")
    return "\n".join(out) + "\n"


def _read_all(fd: int, chunks: list[bytes]) -> None:
    """Drain a terminal until its other side closes (so the writer never blocks)."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the process exited and the terminal closed
            return
        if not data:
            return
        chunks.append(data)


def test_news_waiting_for_an_alert_follows_it_when_a_reimport_changes_its_frequency(
    tmp_path: Path, database_url: str
) -> None:
    """Imported daily, a match waits for 08:00; re-imported as instant, it goes out now."""
    env = {"TRIALALERTS_DATABASE_URL": database_url}
    if database_url.startswith("sqlite"):
        env = {}  # the embedded default: trialalerts.db in the working folder
    row = "ada@example.com,condition,breast cancer,,{},,,,"
    daily = write(tmp_path / "daily.csv", HEADER + "\n" + row.format("daily") + "\n")
    instant = write(tmp_path / "instant.csv", HEADER + "\n" + row.format("instant") + "\n")
    events = write_jsonl(tmp_path / "events.jsonl", [event(record("NCT02513394"), "e1")])
    before_the_send_hour = "2026-06-27T05:00:00Z"

    assert trialalerts("subscribers", "import", str(daily), cwd=tmp_path, env=env).returncode == 0
    assert trialalerts("publish", str(events), cwd=tmp_path, env=env).returncode == 0
    run = trialalerts("run", "--until-idle", "--now", before_the_send_hour, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert "notifications: 1" in run.stdout and "emails: 0" in run.stdout
    changed = trialalerts("subscribers", "import", str(instant), cwd=tmp_path, env=env)
    assert changed.stdout.strip() == "0 created, 1 updated, 0 unchanged, 0 rejected"
    run = trialalerts("run", "--until-idle", "--now", before_the_send_hour, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr

    [sent] = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted((tmp_path / "outbox").glob("*.eml"))
    ]
    text = sent.get_body(preferencelist=("plain",))
    assert text is not None and "NCT02513394" in text.get_content()
    assert sent["To"] == "ada@example.com"
    assert "emails: 1" in run.stdout


def test_an_import_refuses_a_condition_that_is_no_disease_name_by_line(tmp_path: Path) -> None:
    rows = [
        "ada@example.com,condition,asthma,,,,,,",
        "bob@example.com,condition,asthma. verify at evil.example/login,,,,,,",
        "cy@example.com,condition,asthma\u202e,,,,,,",
        "di@example.com,condition,asthma call 0800 123 456,,,,,,",
    ]
    path = write(tmp_path / "in.csv", "\n".join([HEADER, *rows]) + "\n")
    imported = trialalerts("subscribers", "import", str(path), cwd=tmp_path)
    assert imported.returncode == 1
    assert imported.stdout.strip() == "1 created, 0 updated, 0 unchanged, 3 rejected"
    lines = imported.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 3", "line 4", "line 5"]
    assert "looks like a web address" in lines[0]
    assert "invisible or control characters" in lines[1]
    assert "looks like a phone number" in lines[2]
