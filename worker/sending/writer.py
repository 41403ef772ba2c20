"""Short write transactions on one connection, run again when the database dropped it.

The send loop holds one connection for a chunk (no pool checkout, no
pre-ping per write) and commits each write at once.  A sent message whose
outcome cannot be written would look uncertain later and be resent, so a
write that lost its connection is run again on a fresh one (pre-pinged from
the pool).  The delivery writes are conditional on ownership
(worker/sending/rows.py), so running one twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

T = TypeVar("T")


def _connection_lost(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


# Built once: one write per message, and building a Retrying costs more than
# running it.  Tenacity keeps each call's state per thread.
_AGAIN_ON_A_LIVE_CONNECTION = Retrying(
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.05, max=1.0),
    retry=retry_if_exception(_connection_lost),
    reraise=True,
)


def on_a_live_connection(write: Callable[[], T]) -> T:
    """Run a short write again when the database dropped the connection under it."""
    return _AGAIN_ON_A_LIVE_CONNECTION(write)


class Writer:
    """Each write committed at once; run again when the connection was dropped."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def run(self, write: Callable[[Connection], T]) -> T:
        return on_a_live_connection(lambda: self._once(write))

    def _once(self, write: Callable[[Connection], T]) -> T:
        try:
            answer = write(self.connection)
            self.connection.commit()
            return answer
        except BaseException:
            self.connection.rollback()
            raise
