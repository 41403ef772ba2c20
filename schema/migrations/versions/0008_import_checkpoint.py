"""import_checkpoint: where a console import's apply stopped

An apply commits batch after batch; a killed worker (or a failure) left only
the line reached, so applying again started over from the first line and
counted what this very import had added as "unchanged".  The checkpoint keeps
the counts with the line, and the apply resumes after it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_imports") as batch_op:
        batch_op.add_column(sa.Column("checkpoint", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("admin_imports") as batch_op:
        batch_op.drop_column("checkpoint")
