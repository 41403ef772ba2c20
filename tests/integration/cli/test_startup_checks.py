"""Start-up refuses what would make links forgeable or mail malformed; private files stay private.

A key file that is empty, blank or short is refused (exit 2, one line naming
it), never used and never replaced; only a missing one is generated. The key
file and the embedded database are owner-only. The web app refuses to start
on a bad configuration, and one started anyway answers 503 naming it.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.cli.test_cli import trialalerts

KEY_FILE = ".trialalerts-secret"
GOOD_KEY = "a-good-key-of-forty-characters-0123456789"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _one_line_naming(result: subprocess.CompletedProcess[str], name: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert name in line and "Traceback" not in line
    return line


@pytest.mark.parametrize(
    "content",
    ["", "\n", "   \n\t\n", "changeme\n", "short,also-a-much-longer-key-0123\n"],
    ids=["empty", "newline", "blank", "short", "one-short"],
)
@pytest.mark.parametrize("command", [("subscribers", "list"), ("web",)], ids=["list", "web"])
def test_an_unusable_key_file_is_refused_and_kept(
    tmp_path: Path, content: str, command: tuple[str, ...]
) -> None:
    key_file = tmp_path / KEY_FILE
    key_file.write_text(content)
    key_file.chmod(0o600)
    _one_line_naming(trialalerts(*command, cwd=tmp_path), KEY_FILE)
    assert key_file.read_text() == content  # never replaced by a generated key
    assert not (tmp_path / "trialalerts.db").exists()


def test_a_key_file_of_another_user_is_refused(tmp_path: Path) -> None:
    """Planted in a shared folder, it would let its owner forge every link."""
    key_file = tmp_path / KEY_FILE
    key_file.write_text(GOOD_KEY + "\n")
    key_file.chmod(0o600)
    os.chown(key_file, 65534, 65534)  # the tests run as root: hand it to "nobody"
    _one_line_naming(trialalerts("subscribers", "list", cwd=tmp_path), KEY_FILE)
    assert (key_file.stat().st_uid, _mode(key_file)) == (65534, 0o600)


def test_a_missing_key_file_is_generated_private_and_kept(tmp_path: Path) -> None:
    assert trialalerts("subscribers", "list", cwd=tmp_path).returncode == 0
    key_file = tmp_path / KEY_FILE
    key = key_file.read_text()
    assert len(key.strip()) >= 32 and _mode(key_file) == 0o600
    assert trialalerts("subscribers", "list", cwd=tmp_path).returncode == 0
    assert key_file.read_text() == key


def test_the_embedded_database_and_its_companions_are_private(tmp_path: Path) -> None:
    rows = tmp_path / "subs.csv"
    rows.write_text("email,kind,condition\nada@example.org,condition,lung cancer\n")
    assert trialalerts("subscribers", "import", str(rows), cwd=tmp_path).returncode == 0
    files = [path for path in tmp_path.iterdir() if path.name.startswith("trialalerts.db")]
    assert tmp_path / "trialalerts.db" in files
    assert {path.name: _mode(path) for path in files} == dict.fromkeys(
        (path.name for path in files), 0o600
    )


def test_files_open_to_others_are_made_private_with_a_warning(tmp_path: Path) -> None:
    key_file, database = tmp_path / KEY_FILE, tmp_path / "trialalerts.db"
    key_file.write_text(GOOD_KEY + "\n")
    database.touch()
    for path in (key_file, database):
        path.chmod(0o644)
    result = trialalerts("subscribers", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (_mode(key_file), _mode(database)) == (0o600, 0o600)
    assert KEY_FILE in result.stderr and "trialalerts.db" in result.stderr
    assert key_file.read_text() == GOOD_KEY + "\n"


@pytest.mark.parametrize(
    "value",
    [
        "not an address",
        "Alerts <alerts>",
        "alerts@example.org\r\nBcc: victim@example.org",
        "Alerts <alerts@example.org",
        "Alerts <alerts@example.org> trailing",
    ],
)
def test_a_bad_from_address_stops_start_up(tmp_path: Path, value: str) -> None:
    result = trialalerts("subscribers", "list", cwd=tmp_path, env={"TRIALALERTS_FROM": value})
    _one_line_naming(result, "TRIALALERTS_FROM")


@pytest.mark.parametrize(
    "value",
    ["alerts@mail.example.org", "Trial Alerts <alerts@mail.example.org>", '"A, B" <a@b.org>'],
)
def test_a_from_address_with_or_without_a_display_name_is_taken(tmp_path: Path, value: str) -> None:
    result = trialalerts("subscribers", "list", cwd=tmp_path, env={"TRIALALERTS_FROM": value})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "value",
    [
        "https://",
        "http:alerts.example.org",
        "https://alerts.example.org/?x=1",
        "https://me@alerts.example.org",
    ],
)
def test_a_base_url_that_breaks_every_link_stops_start_up(tmp_path: Path, value: str) -> None:
    result = trialalerts("subscribers", "list", cwd=tmp_path, env={"TRIALALERTS_BASE_URL": value})
    _one_line_naming(result, "TRIALALERTS_BASE_URL")


def test_a_short_ingest_token_stops_start_up(tmp_path: Path) -> None:
    short = trialalerts(
        "subscribers", "list", cwd=tmp_path, env={"TRIALALERTS_INGEST_TOKEN": "letmein"}
    )
    line = _one_line_naming(short, "TRIALALERTS_INGEST_TOKEN")
    assert "letmein" not in line
    long_enough = {"TRIALALERTS_INGEST_TOKEN": "x" * 16}
    assert trialalerts("subscribers", "list", cwd=tmp_path, env=long_enough).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_gunicorn_serving_a_bad_configuration_answers_503_naming_it(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "worker.web:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        paths = ("/healthz", "/u/some-token", "/preferences/some-token")
        answers = {path: _get(f"http://127.0.0.1:{port}{path}") for path in paths}
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    for path, (status, body) in answers.items():
        assert status == 503, (path, body)
        assert KEY_FILE in body and "Traceback" not in body, path
    assert "Traceback" not in log
    assert (tmp_path / KEY_FILE).read_text() == ""


def _get(url: str) -> tuple[int, str]:
    """The answer, waiting up to 30 s: a busy machine may still be booting the server's worker."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
