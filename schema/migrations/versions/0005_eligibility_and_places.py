"""Eligibility filters and places: age, sex, healthy volunteers, phases, study types

Subscriptions, the sign-ups they come from and the criteria they point at gain
the eligibility filters (all absent on existing rows: not asked, as before).
Subscriptions and sign-ups keep the place a `near` was given as; sign-ups gain
the `near` point itself, as the public form now offers it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 00:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ELIGIBILITY = ("age", "sex", "healthy_volunteers", "phases", "study_types")


def _eligibility() -> list[sa.Column]:
    return [
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(6), nullable=True),
        sa.Column("healthy_volunteers", sa.Boolean(), nullable=True),
        sa.Column("phases", sa.JSON(), nullable=True),
        sa.Column("study_types", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    for table in ("criteria", "subscriptions", "signups"):
        with op.batch_alter_table(table) as batch_op:
            for column in _eligibility():
                batch_op.add_column(column)
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("near_place", sa.Text(), nullable=True))
    with op.batch_alter_table("signups") as batch_op:
        batch_op.add_column(sa.Column("near_lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("near_lon", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("near_km", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("near_place", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signups") as batch_op:
        for name in ("near_place", "near_km", "near_lon", "near_lat", *ELIGIBILITY):
            batch_op.drop_column(name)
    with op.batch_alter_table("subscriptions") as batch_op:
        for name in ("near_place", *ELIGIBILITY):
            batch_op.drop_column(name)
    with op.batch_alter_table("criteria") as batch_op:
        for name in ELIGIBILITY:
            batch_op.drop_column(name)
