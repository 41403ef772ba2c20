"""gunicorn settings that `trialalerts web` passes (`--config python:worker.web.gunicorn_hooks`).

Each web worker reads the place gazetteer (a few seconds, once per process)
in the background as soon as it starts, so no sign-up or preferences request
waits for it.

gunicorn reads one settings file: given this one, it would skip the file an
operator keeps for it, ./gunicorn.conf.py or the --config of
GUNICORN_CMD_ARGS.  That file is read here instead, as gunicorn would: its
settings become these, its own post_worker_init runs after the warm-up, and
GUNICORN_CMD_ARGS and the command line still override it.  (A --config given
on the command line replaces this file: its workers read the gazetteer at
their first place.)
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
from typing import Any

from gunicorn.config import Config, get_default_config_file


def _operators_settings() -> dict[str, Any]:
    """The settings of the file gunicorn reads when not given one; {} without such a file."""
    config = Config()
    given = config.parser().parse_args(config.get_cmd_args_from_env()).config
    location = given or get_default_config_file()
    if location is None or location == f"python:{__name__}":
        return {}
    if location.startswith("python:"):
        found = vars(importlib.import_module(location.removeprefix("python:")))
    else:
        path = location.removeprefix("file:")
        loader = importlib.machinery.SourceFileLoader("__config__", path)
        spec = importlib.util.spec_from_loader("__config__", loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        found = vars(module)
    return {name: value for name, value in found.items() if name in config.settings}


_theirs = _operators_settings()
_their_post_worker_init = _theirs.pop("post_worker_init", None)
globals().update(_theirs)


def post_worker_init(worker: Any) -> None:
    from worker.subscriptions.places import warm_up

    warm_up()
    if _their_post_worker_init is not None:
        _their_post_worker_init(worker)
