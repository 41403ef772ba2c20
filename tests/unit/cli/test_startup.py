"""`trialalerts` starts without the database layer: each command imports what it needs when it runs.

Integration tests run the command as a subprocess hundreds of times, and an
operator waits on `--help`: loading SQLAlchemy, the models and every stage
before parsing the arguments cost over a second each time.
"""

from __future__ import annotations

import subprocess
import sys

from worker.cli.suppressions import ADMIN_REASON as CLI_ADMIN_REASON
from worker.subscriptions.suppressions import ADMIN_REASON

# What the command modules may load at import: click, two pure helpers, the bench's scenario names.
LOADED_AT_START = {"worker", "worker.core", "worker.core.ids", "worker.core.quoting"}
LOADED_FOR_BENCH_NAMES = {"worker.bench", "worker.bench.runner", "worker.bench.rows",
                          "worker.bench.rss", "worker.bench.scale"}  # fmt: skip


def test_importing_the_command_loads_no_stage_and_no_database_code() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, worker.cli; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(done.stdout.split())
    ours = {name for name in loaded if name.split(".")[0] == "worker"}
    assert "sqlalchemy" not in loaded and "tqdm" not in loaded
    assert ours - LOADED_AT_START - LOADED_FOR_BENCH_NAMES == {
        name for name in ours if name.startswith("worker.cli")
    }


def test_the_default_reason_of_suppressions_add_is_the_admin_reason() -> None:
    assert CLI_ADMIN_REASON == ADMIN_REASON
