"""The fault runs' harness: the workers share its lease, and after a kill it counts rows
only once PostgreSQL has ended the workers' sessions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from worker.bench.faults import (
    WORKERS_APPLICATION,
    Deployment,
    named_sessions,
    wait_for_sessions_to_end,
)
from worker.core.config import Settings, load_settings
from worker.core.db import make_engine


def test_the_workers_renew_their_claims_by_the_lease_the_harness_reclaims_by(
    tmp_path: Path,
) -> None:
    """Else a live worker, renewing by the default 300 s, would look stopped after 5 s."""
    harness = SimpleNamespace(
        runtime=SimpleNamespace(settings=Settings(database_url="postgresql+psycopg://db/x",
                                                  sending_lease_seconds=5)),
        broker_url="redis://127.0.0.1:6379/9",
        tmp_path=tmp_path,
        ses=SimpleNamespace(url="http://127.0.0.1:1"),
    )  # fmt: skip
    workers = load_settings(Deployment.env(harness))  # type: ignore[arg-type]
    assert workers.sending_lease_seconds == 5


def test_waits_until_the_named_session_has_ended(pg_url: str) -> None:
    ours = make_engine(pg_url)
    theirs = make_engine(named_sessions(pg_url))
    connection = theirs.connect()
    connection.execute(text("SELECT 1"))
    closed_at: list[float] = []

    def close_later() -> None:
        time.sleep(0.5)
        closed_at.append(time.monotonic())
        connection.close()
        theirs.dispose()

    closer = threading.Thread(target=close_later)
    closer.start()
    wait_for_sessions_to_end(ours, WORKERS_APPLICATION)
    returned_at = time.monotonic()
    closer.join()
    assert closed_at and returned_at >= closed_at[0]
    ours.dispose()


def test_a_session_that_stays_open_is_an_error(pg_url: str) -> None:
    ours = make_engine(pg_url)
    theirs = make_engine(named_sessions(pg_url))
    with theirs.connect() as connection:
        connection.execute(text("SELECT 1"))
        with pytest.raises(AssertionError, match="still open"):
            wait_for_sessions_to_end(ours, WORKERS_APPLICATION, timeout=0.3)
    theirs.dispose()
    ours.dispose()
