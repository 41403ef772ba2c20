"""After a kill, fault runs count rows only once PostgreSQL has ended the workers' sessions."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from worker.bench.faults import WORKERS_APPLICATION, named_sessions, wait_for_sessions_to_end
from worker.core.db import make_engine


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
