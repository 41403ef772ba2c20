"""near_site: the site near the subscriber a notification is about

"A site opened near you" and the nearest site of a new match are worked out
by matching, which holds the subscriber's point and the study's sites; the
notification keeps that site and its distance for the digest to name.  Rows
from before stay NULL: their digests name no site.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.add_column(sa.Column("near_site", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_column("near_site")
