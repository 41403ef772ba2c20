"""Alembic environment: the engine comes from the caller (worker.core.migrate).

SQLite rebuilds a table to change it (batch mode). With foreign keys on, the
DROP of the old table would cascade into its children, so they are off while
migrations run (set on the DBAPI connection: SQLite ignores the pragma inside
a transaction) and on again afterwards.
"""

from alembic import context

from worker.core.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.dbapi_connection
    if sqlite:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite
            )
            context.run_migrations()
    finally:
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")
