"""The one place that builds everything: settings, engine, sessions, clock.

Actors, web handlers and CLI commands ask for the runtime instead of opening
their own connections; nothing is built until first asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings
from worker.criteria_index import CriteriaIndex
from worker.db import make_engine, make_sessionmaker
from worker.outbox import Sender


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(now: datetime) -> Callable[[], datetime]:
    """`--now`: one instant for the whole run, ingest timestamps included."""
    return lambda: now


@dataclass
class Runtime:
    settings: Settings
    clock: Callable[[], datetime] = system_clock
    engine_options: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url, **self.engine_options)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @cached_property
    def criteria_index(self) -> CriteriaIndex:
        return CriteriaIndex()

    @cached_property
    def sender(self) -> Sender:
        from worker.senders import make_sender

        return make_sender(self.settings)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


_current: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _current
    if _current is None:
        _current = Runtime(load_settings())
    return _current


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime
