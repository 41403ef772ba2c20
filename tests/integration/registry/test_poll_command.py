"""`trialalerts poll --once` as real processes: killed mid-run and restarted, or two at once.

Subscribers are imported in-process; polling and `run --until-idle` are
subprocesses; what counts is what the fake registry served and what the
outbox finally holds, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from datetime import date
from pathlib import Path
from select import select as select_fds

import pytest
from sqlalchemy import select

from tests.integration.pipeline_helpers import subscribe
from tests.integration.registry.support import SINCE, env_for, event_counts, outbox, real_studies
from worker.bench.fake_ctgov import FakeCtgov, Fault
from worker.core.config import Settings
from worker.core.models import RegistryCursor
from worker.core.runtime import Runtime
from worker.registry.cursor import Cursor

pytestmark = pytest.mark.integration
ALL = [study["protocolSection"]["identificationModule"]["nctId"] for study in real_studies()]
PAGES = len(ALL)  # page size 1 below


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "worker", *args],
        env=clean | env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _subscribe_watchers(runtime: Runtime) -> None:
    subscribe(runtime, [
        {"email": "ada@example.org", "kind": "condition", "condition": "lung cancer",
         "frequency": "instant"},
        {"email": "ben@example.org", "kind": "condition", "condition": "brain injuries",
         "frequency": "instant"},
    ])  # fmt: skip


def _requests_once_quiet(fake: FakeCtgov) -> int:
    """The requests served so far, once none has come in for half a second: a request
    the killed poller sent just before its end may reach the fake server late."""
    while True:
        served = len(fake.studies_requests())
        time.sleep(0.5)
        if len(fake.studies_requests()) == served:
            return served


def test_a_poller_killed_mid_run_and_restarted_publishes_every_study_exactly_once(
    runtime: Runtime, database_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    _subscribe_watchers(runtime)
    fake.delay = 0.1
    env = env_for(fake, database_url, TRIALALERTS_CTGOV_PAGE_SIZE="1",
                  TRIALALERTS_CTGOV_LEASE_SECONDS="1",
                  TRIALALERTS_OUTBOX=str(tmp_path / "outbox"))  # fmt: skip
    poller = _start(["poll", "--once", "--since", SINCE], env, tmp_path)
    deadline = time.monotonic() + 30
    while len(fake.studies_requests()) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    poller.send_signal(signal.SIGKILL)
    poller.communicate(timeout=10)
    with runtime.sessions() as session:
        killed = session.scalars(select(RegistryCursor)).one()
    assert killed.holder is not None and killed.data_timestamp is None  # it died holding it
    stored = sum(event_counts(runtime).values())
    assert 0 < stored < len(ALL)
    served_before = _requests_once_quiet(fake)

    code, out, err = _finish(_start(["poll", "--once"], env, tmp_path))

    assert code == 0, err
    assert event_counts(runtime) == dict.fromkeys(ALL, 1)  # no gap, nothing twice
    resumed = fake.studies_requests()[served_before:]
    assert resumed[0].params["filter.advanced"] == (
        f"AREA[LastUpdatePostDate]RANGE[{killed.day},MAX]"
    )
    assert len(resumed) < PAGES + 1  # it started from the cursor, not from the beginning
    assert "published" in out and f"data of {fake.data_timestamp}" in out

    run = subprocess.run(
        [sys.executable, "-m", "worker", "run", "--until-idle"],
        env={k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")} | env,
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    mail = outbox(tmp_path / "outbox")
    assert sorted(mail) == ["ada@example.org", "ben@example.org"]
    assert "NCT04267848" in mail["ada@example.org"][0]
    assert all(f"NCT0900000{n}" in mail["ben@example.org"][0] for n in (1, 2, 3))


def test_two_pollers_at_once_fetch_and_publish_each_page_once(
    runtime: Runtime, database_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    fake.delay = 0.02
    env = env_for(fake, database_url, TRIALALERTS_CTGOV_PAGE_SIZE="1",
                  TRIALALERTS_CTGOV_LEASE_SECONDS="60")  # fmt: skip
    cursor = Cursor(runtime.sessions, fake.url, 60, runtime.now)
    assert cursor.claim() is not None
    cursor.move(day=date.fromisoformat(SINCE))  # where an earlier `poll --since` left it
    cursor.release()
    runtime.close()

    pollers = [_start(["poll", "--once"], env, tmp_path) for _ in range(2)]
    results = [_finish(poller) for poller in pollers]

    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    summaries = sorted(out.splitlines()[0] for _, out, _ in results)
    published = [line for line in summaries if f"{len(ALL)} published" in line]
    waited = [line for line in summaries if line.startswith("0 studies on 0 pages")]
    assert len(published) == 1 and len(waited) == 1, summaries
    assert "unchanged; 1 requests" in waited[0]
    urls = [str(sorted(r.params.items())) for r in fake.studies_requests()]
    assert len(urls) == PAGES and len(set(urls)) == PAGES
    assert [r.path for r in fake.requests].count("/version") == 2
    assert event_counts(runtime) == dict.fromkeys(ALL, 1)


def test_the_poller_process_polls_again_serves_metrics_and_stops_on_sigterm(
    sqlite_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    port = _free_port()
    env = env_for(fake, sqlite_url, TRIALALERTS_CTGOV_POLL_INTERVAL_SECONDS="0.2",
                  TRIALALERTS_CTGOV_METRICS_PORT=str(port))  # fmt: skip
    poller = _start(["poll", "--since", SINCE], env, tmp_path)
    deadline = time.monotonic() + 30
    while [r.path for r in fake.requests].count("/version") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    poller.send_signal(signal.SIGTERM)
    code, _, err = _finish(poller)

    assert code == 0, err
    assert 'trialalerts_ctgov_requests_total{status="200"}' in metrics
    assert "trialalerts_ctgov_cursor_lag_seconds" in metrics
    assert "trialalerts_ctgov_last_success_timestamp_seconds" in metrics
    # Later polls found the same data: one /version request each, no pages.
    assert len(fake.studies_requests()) == -(-len(ALL) // 2)
    runtime = Runtime(Settings(database_url=sqlite_url))
    with runtime.sessions() as session:
        assert session.scalars(select(RegistryCursor.holder)).one() is None
    runtime.close()


def test_bad_arguments_and_settings_exit_2_and_a_registry_that_is_down_exits_1(
    sqlite_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    env = env_for(fake, sqlite_url, TRIALALERTS_CTGOV_RETRIES="1")
    bad_day = _finish(_start(["poll", "--once", "--since", "2026-13-01"], env, tmp_path))
    bad_rate = _finish(_start(["poll", "--once"], env | {"TRIALALERTS_CTGOV_MAX_RPS": "0"},
                              tmp_path))  # fmt: skip
    fake.fail(*[Fault("503", path="/version")] * 2)
    down = _finish(_start(["poll", "--once"], env, tmp_path))

    assert bad_day[0] == 2 and "--since" in bad_day[2]
    assert bad_rate[0] == 2 and "TRIALALERTS_CTGOV_MAX_RPS" in bad_rate[2]
    assert down[0] == 1 and "poll stopped: gave up after 2 attempts" in down[2]
    assert "HTTP 503" in down[2]


def test_on_a_terminal_poll_once_shows_a_progress_bar(
    sqlite_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIALALERTS_")}
    done = subprocess.run(
        [sys.executable, "-m", "worker", "poll", "--once", "--since", SINCE],
        env=clean | env_for(fake, sqlite_url), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=secondary, text=True, timeout=60,
    )  # fmt: skip
    os.close(secondary)
    shown = b""
    while select_fds([primary], [], [], 0.1)[0]:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert done.returncode == 0
    assert "studies [00:0" in shown.decode(errors="replace")  # tqdm's bar
    assert f"{len(ALL)} studies on" in done.stdout
