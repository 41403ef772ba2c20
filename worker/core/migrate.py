"""`trialalerts db upgrade`: Alembic migrations kept under schema/migrations.

Embedded (SQLite) commands upgrade their schema each time they start, so a
schema already at the newest revision is recognised without loading Alembic
(about half a second of imports): the revisions are read from the migration
files themselves, the one home of that fact.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from worker.core.paths import schema_dir

if TYPE_CHECKING:
    from alembic.config import Config

_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*(None|\"[^\"]*\"|'[^']*')", re.M)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(schema_dir() / "migrations"))
    config.attributes["engine"] = engine
    return config


@cache
def head_revision() -> str:
    """The newest migration: the one revision no other migration names as its down_revision."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (schema_dir() / "migrations" / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.add(found["revision"].strip("\"'"))
        if found.get("down_revision", "None") != "None":
            downs.add(found["down_revision"].strip("\"'"))
    heads = revisions - downs
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have one head, found {sorted(heads)}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None for a database Alembic never touched."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and current_revision(engine) == head_revision():
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
