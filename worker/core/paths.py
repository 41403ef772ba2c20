"""Where the bundled data folders live.

An installed wheel carries `templates/` and `schema/` inside the package
(`worker/_data/...`); a source checkout or editable install has them at the
repository root.  The packaged location wins when both exist.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def _data_dir(name: str) -> Path:
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name


def templates_dir() -> Path:
    """The `templates/` folder (email templates live in its `email/` subfolder)."""
    return _data_dir("templates")


def schema_dir() -> Path:
    """The `schema/` folder: JSON Schemas of the public contracts and migrations."""
    return _data_dir("schema")
