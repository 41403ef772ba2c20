"""links die with their rows: ids never reused, a link key per subscriber and sign-up,
confirmation mail sent from the queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 21:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Tables whose single `id` key SQLite must never hand out twice (AUTOINCREMENT).
ID_TABLES = (
    "criteria", "dead_letters", "feedback_messages", "received_events", "signups",
    "subscribers", "deliveries", "study_changes", "subscriptions", "notifications",
)  # fmt: skip
RANDOM_KEY = {
    "postgresql": "substr(md5(random()::text || clock_timestamp()::text), 1, 22)",
    "sqlite": "lower(hex(randomblob(11)))",
}


def upgrade() -> None:
    bind = op.get_bind()
    for table in ("subscribers", "signups"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("link_key", sa.String(length=32), nullable=True))
            batch_op.add_column(
                sa.Column("legacy_links", sa.Boolean(), nullable=False, server_default=sa.false())
            )
            if table == "signups":
                batch_op.add_column(
                    sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True)
                )
        # Rows from before link keys: a fresh key each, and their key-less links keep working.
        op.execute(
            f"UPDATE {table} SET link_key = {RANDOM_KEY[bind.dialect.name]}, legacy_links = true"
        )
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("link_key", existing_type=sa.String(length=32), nullable=False)
    # Sign-ups from before were mailed inside their request.
    op.execute("UPDATE signups SET mailed_at = created_at")
    if bind.dialect.name == "sqlite":
        for table in ID_TABLES:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass


def downgrade() -> None:
    for table in ("subscribers", "signups"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("link_key")
            batch_op.drop_column("legacy_links")
            if table == "signups":
                batch_op.drop_column("mailed_at")
