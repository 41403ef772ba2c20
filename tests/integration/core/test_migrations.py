"""Migrations keep every row and make ids unique for good, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL
from worker.core.db import make_engine
from worker.core.migrate import upgrade

ROW_TIME = "2026-01-01 00:00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"trialalerts_migrate_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _add_subscriber(connection, email: str, **extra: object) -> int:  # type: ignore[no-untyped-def]
    columns = {"email": email, "timezone": "UTC", "send_hour": 8, "soft_bounces": 0,
               "created_at": ROW_TIME, **extra}  # fmt: skip
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    connection.execute(text(f"INSERT INTO subscribers ({names}) VALUES ({values})"), columns)
    return connection.execute(
        text("SELECT id FROM subscribers WHERE email = :e"), {"e": email}
    ).scalar_one()


def test_upgrading_keeps_children_and_then_never_reuses_an_id(empty_database: str) -> None:
    engine = make_engine(empty_database)
    try:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            kept = _add_subscriber(connection, "kept@example.org")
            connection.execute(
                text(
                    'INSERT INTO deliveries (subscriber_id, frequency, "window", state, item_count,'
                    " attempts, created_at, updated_at) VALUES (:s, 'daily', :t, 'queued', 1, 0,"
                    " :t, :t)"
                ),
                {"s": kept, "t": ROW_TIME},
            )
        upgrade(engine)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 1
            key, legacy = connection.execute(
                text("SELECT link_key, legacy_links FROM subscribers WHERE id = :i"), {"i": kept}
            ).one()
            assert len(key) >= 16 and legacy
            gone = _add_subscriber(connection, "gone@example.org", link_key="k" * 22)
            connection.execute(text("DELETE FROM subscribers WHERE id = :i"), {"i": gone})
            after = _add_subscriber(connection, "after@example.org", link_key="n" * 22)
        assert after > gone > kept
    finally:
        engine.dispose()


def test_the_head_read_from_the_files_is_alembics_and_an_upgraded_schema_is_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded commands skip Alembic when the schema is current: both must agree on "current"."""
    from alembic.script import ScriptDirectory

    from worker.core import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert ScriptDirectory.from_config(migrate.alembic_config(engine)).get_heads() == [
        migrate.head_revision()
    ]
    assert migrate.current_revision(engine) is None
    upgrade(engine, "0007")
    assert migrate.current_revision(engine) == "0007"
    upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    ran: list[str] = []
    monkeypatch.setattr("alembic.command.upgrade", lambda *args: ran.append("alembic"))
    upgrade(engine)
    assert ran == []  # already current: Alembic not consulted
    engine.dispose()
