"""registry cursor: where the ClinicalTrials.gov poller stands, and its lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_cursors",
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("data_timestamp", sa.String(length=40), nullable=True),
        sa.Column("followed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_registry_cursors")),
    )


def downgrade() -> None:
    op.drop_table("registry_cursors")
