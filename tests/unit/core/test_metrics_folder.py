"""The worker's metrics folder: created, emptied of earlier runs' files, refused when unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.core.config import ConfigError, load_settings
from worker.core.metrics_folder import prepare_metrics_folder


def test_the_folder_is_per_working_directory_by_default_and_settable() -> None:
    assert load_settings({}).metrics_dir == Path(".trialalerts-metrics")
    given = load_settings({"TRIALALERTS_METRICS_DIR": "/srv/alerts/metrics"})
    assert given.metrics_dir == Path("/srv/alerts/metrics")


def test_a_missing_folder_is_created(tmp_path: Path) -> None:
    folder = prepare_metrics_folder(tmp_path / "a" / "metrics")
    assert folder.is_dir() and folder.is_absolute()


def test_an_earlier_runs_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    stale = ["counter_4242.db", "gauge_mostrecent_4242.db", "histogram_4243.db"]
    for name in [*stale, "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    prepare_metrics_folder(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_folder_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="TRIALALERTS_METRICS_DIR"):
        prepare_metrics_folder(tmp_path / "a-file" / "metrics")
    with pytest.raises(ConfigError, match="is not a folder"):
        prepare_metrics_folder(tmp_path / "a-file")


def test_an_unwritable_folder_is_a_configuration_error() -> None:
    # /proc/self is a folder nobody may create files in, root included.
    with pytest.raises(ConfigError, match="cannot be used"):
        prepare_metrics_folder(Path("/proc/self"))
