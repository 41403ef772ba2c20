"""The worker's Prometheus multiprocess folder: one per deployment, emptied at every start.

prometheus_client adds up the counter files of every process that ever wrote
into the folder, live or dead.  A folder kept from an earlier run, or shared
with another deployment (dramatiq's default is one folder in the temp dir for
everyone), makes every counter lie.  So the worker master empties it before
any worker process starts, and a folder it cannot use stops the start with a
configuration error (exit 2) instead of a worker that dies at its first count.
"""

from __future__ import annotations

import os
from pathlib import Path

from worker.core.config import ConfigError

# Only prometheus_client's own files are removed: the folder may be shared with other things.
PROMETHEUS_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def prepare_metrics_folder(folder: Path) -> Path:
    """Create `folder` if needed, check it is writable, empty it; returns its absolute path."""
    folder = folder.absolute()
    problem = f"TRIALALERTS_METRICS_DIR={str(folder)!r} (the worker's metrics folder)"
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{problem} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for pattern in PROMETHEUS_FILES:
            for stale in folder.glob(pattern):
                stale.unlink()
        probe = folder / f".write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"{problem} cannot be used: {error.strerror or error}") from None
    return folder
