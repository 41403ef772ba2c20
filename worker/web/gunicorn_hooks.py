"""gunicorn settings that `trialalerts web` passes (`--config python:worker.web.gunicorn_hooks`).

Each web worker reads the place gazetteer (a few seconds, once per process)
in the background as soon as it starts, so no sign-up or preferences request
waits for it.
"""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    from worker.subscriptions.places import warm_up

    warm_up()
