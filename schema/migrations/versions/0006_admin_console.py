"""Admin console: users, login failures, audit log, background imports; search indexes

Four new tables; indexes on the times the overview counts per day (sent,
ingested, dead-lettered).  On PostgreSQL, two indexes make the console's prefix search
index-backed on millions of rows whatever the database collation: addresses
(stored lower-cased) and lower(condition), both with text_pattern_ops, so that
`LIKE 'text%'` uses them.  SQLite searches without them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)
DAY_COLUMNS = (
    ("deliveries", "sent_at"),
    ("received_events", "ingested_at"),
    ("dead_letters", "created_at"),
)


def _table(name: str, *columns: sa.Column) -> None:
    """A table keyed by an id that is never handed out twice (AUTOINCREMENT on SQLite)."""
    op.create_table(
        name,
        sa.Column("id", Id, nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    _table(
        "admin_users",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("session_nonce", sa.String(32), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("last_login_at", When, nullable=True),
        sa.UniqueConstraint("email", name="uq_admin_users_email"),
    )
    _table(
        "admin_login_failures",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("at", When, nullable=False),
    )
    op.create_index("ix_admin_login_failures_email", "admin_login_failures", ["email"])
    op.create_index("ix_admin_login_failures_at", "admin_login_failures", ["at"])
    _table(
        "audit_entries",
        sa.Column("at", When, nullable=False),
        sa.Column("actor", sa.String(400), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"])
    _table(
        "admin_imports",
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("lines_total", sa.Integer(), nullable=True),
        sa.Column("lines_done", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("applied_at", When, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    # The overview's per-day counts read the last 30 days only.
    for table, column in DAY_COLUMNS:
        op.create_index(f"ix_{table}_{column}", table, [column])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_subscribers_email_prefix ON subscribers (email text_pattern_ops)"
        )
        op.execute(
            "CREATE INDEX ix_subscriptions_condition_prefix "
            "ON subscriptions (lower(condition) text_pattern_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_subscriptions_condition_prefix", table_name="subscriptions")
        op.drop_index("ix_subscribers_email_prefix", table_name="subscribers")
    for table, column in DAY_COLUMNS:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_table("admin_imports")
    op.drop_index("ix_audit_entries_at", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_index("ix_admin_login_failures_at", table_name="admin_login_failures")
    op.drop_index("ix_admin_login_failures_email", table_name="admin_login_failures")
    op.drop_table("admin_login_failures")
    op.drop_table("admin_users")
