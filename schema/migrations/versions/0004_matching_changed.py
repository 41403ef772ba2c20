"""matching_changed: whether an event changed what condition matching reads

Matching decides "newly matches" against the study's previous snapshot.  Ingest
already holds both summaries, so it records whether the event changed what
matching reads; for most updates it did not, and matching then need not read
the previous summary again (the matching benchmark's time per event).  Rows
from before stay NULL: not known, so the previous summary is read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("received_events") as batch_op:
        batch_op.add_column(sa.Column("matching_changed", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("received_events") as batch_op:
        batch_op.drop_column("matching_changed")
