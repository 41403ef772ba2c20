"""The one place that builds everything: settings, engine, sessions, clock.

Actors, web handlers and CLI commands ask for the runtime instead of opening
their own connections; nothing is built until first asked for.  Process-wide
parts of higher stages (the email sender, the criteria cache) are kept here
too, but built by the stage that owns them (`part`), so core imports none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from worker.core.config import Settings, load_settings
from worker.core.db import make_engine, make_sessionmaker

T = TypeVar("T")


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
    parts: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url, **self.engine_options)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    def part(self, name: str, build: Callable[[], T]) -> T:
        """The process's one `name` (e.g. "sender"), built on first use; tests may set parts."""
        if name not in self.parts:
            self.parts[name] = build()
        return cast(T, self.parts[name])

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
