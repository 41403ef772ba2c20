"""`trialalerts web` with the operator's own gunicorn settings file, in a real gunicorn.

`trialalerts web` gives gunicorn its own settings (the gazetteer warm-up);
the file gunicorn reads when given none, ./gunicorn.conf.py or the --config
of GUNICORN_CMD_ARGS, still holds: its settings, its own post_worker_init,
and the command line over both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, _truncate, make_runtime
from tests.integration.core.processes import (
    clean_env,
    free_port,
    http_get,
    own_redis_url,
    running,
    wait_until,
)

SETTINGS = """
bind = "127.0.0.1:{port}"
workers = 1


def post_worker_init(worker):
    with open("{mark}", "a") as mark:
        mark.write("started\\n")
"""


@pytest.mark.parametrize("where", ["gunicorn.conf.py", "GUNICORN_CMD_ARGS"])
def test_the_operators_settings_file_is_read_beside_the_warm_up(
    tmp_path: Path, pg_url: str, where: str
) -> None:
    _truncate(pg_url)
    make_runtime(pg_url, tmp_path).close()
    port = free_port()
    mark = tmp_path / "their-hook-ran"
    settings = SETTINGS.format(port=port, mark=mark)
    more: dict[str, str] = {}
    if where == "gunicorn.conf.py":
        (tmp_path / "gunicorn.conf.py").write_text(settings)
    else:
        (tmp_path / "ops").mkdir()
        (tmp_path / "ops" / "web.py").write_text(settings)
        more["GUNICORN_CMD_ARGS"] = f"--config {tmp_path / 'ops' / 'web.py'}"
    env = clean_env(
        TRIALALERTS_DATABASE_URL=pg_url,
        TRIALALERTS_BROKER_URL=own_redis_url(),
        TRIALALERTS_SECRET_KEY=TEST_KEY,
        **more,
    )
    with running(["web"], env, tmp_path, "web"):
        try:
            wait_until(lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
                       what=f"gunicorn on the port of {where}")  # fmt: skip
        except AssertionError:
            listening = [line for line in (tmp_path / "web.err").read_text().splitlines()
                         if "Listening at" in line]  # fmt: skip
            raise AssertionError(f"not on port {port}: {listening}") from None
        wait_until(lambda: "place gazetteer ready" in (tmp_path / "web.err").read_text(),
                   what="the gazetteer read at the worker's start")  # fmt: skip
        wait_until(mark.exists, what="the operator's own post_worker_init")
    assert mark.read_text() == "started\n"
