"""What every web handler needs: the runtime, and pages rendered from templates/web.

The app is built at import time but the runtime is not: the first request
builds it from the environment (or uses the one `create_app` was given), so
importing `worker.web.app` opens no connection and reads no setting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, current_app, make_response, render_template
from sqlalchemy.orm import Session

from worker.core.config import ensure_secret_key
from worker.core.db import READ_ONLY
from worker.core.runtime import Runtime, get_runtime, set_runtime

RUNTIME_KEY = "trialalerts.runtime"


class ProcessRuntime:
    """The process's runtime, prepared on first use the way the CLI prepares its own.

    The embedded default gets its signing key (generated once, kept beside the
    database) and, on SQLite, an up-to-date schema.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runtime: Runtime | None = None

    def __call__(self) -> Runtime:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = _prepared(get_runtime())
        return self._runtime


def _prepared(runtime: Runtime) -> Runtime:
    settings = runtime.settings
    if settings.email_backend == "file" and not settings.secret_keys:
        runtime = Runtime(ensure_secret_key(settings), runtime.clock)
        set_runtime(runtime)
    if runtime.engine.dialect.name == "sqlite":
        from worker.core.migrate import upgrade

        upgrade(runtime.engine)
    return runtime


def runtime_provider(runtime: Runtime | None) -> Callable[[], Runtime]:
    if runtime is None:
        return ProcessRuntime()
    return lambda: runtime


def current_runtime() -> Runtime:
    provider: Callable[[], Runtime] = current_app.extensions[RUNTIME_KEY]
    return provider()


@contextmanager
def database(runtime: Runtime, *, write: bool) -> Iterator[Session]:
    """A session for one request: committed when it writes, rolled back when it only reads.

    One that only reads never waits for a writer on SQLite (worker.core.db.READ_ONLY).
    """
    with runtime.sessions() as session:
        if not write:
            session.connection(execution_options={READ_ONLY: True})
            yield session
            return
        with session.begin():
            yield session


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A page from templates/web with its status code."""
    return make_response(render_template(template, **context), status)
