"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 21:15:15.526658
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "criteria",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("match_key", sa.String(length=100), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("near_lat", sa.Float(), nullable=True),
        sa.Column("near_lon", sa.Float(), nullable=True),
        sa.Column("near_km", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criteria")),
        sa.UniqueConstraint("signature", name=op.f("uq_criteria_signature")),
    )
    with op.batch_alter_table("criteria", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_criteria_match_key"), ["match_key"], unique=False)

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_dead_letters_fingerprint")),
    )
    op.create_table(
        "feedback_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("sns_message_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_messages")),
        sa.UniqueConstraint("sns_message_id", name=op.f("uq_feedback_messages_sns_message_id")),
    )
    op.create_table(
        "received_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=False),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("nct_id", sa.String(length=11), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_update", sa.String(length=10), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_events")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_received_events_source_event_id")),
    )
    with op.batch_alter_table("received_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_received_events_nct_id"), ["nct_id"], unique=False)
        batch_op.create_index("ix_received_events_pending", ["outcome", "id"], unique=False)

    op.create_table(
        "signups",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("nct_id", sa.String(length=11), nullable=True),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signups")),
    )
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signups_client_hash"), ["client_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_signups_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_signups_email"), ["email"], unique=False)

    op.create_table(
        "subscribers",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("send_hour", sa.Integer(), nullable=False),
        sa.Column("soft_bounces", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email", name=op.f("uq_subscribers_email")),
    )
    op.create_table(
        "suppressions",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "criteria_matches",
        sa.Column(
            "criteria_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("nct_id", sa.String(length=11), nullable=False),
        sa.ForeignKeyConstraint(
            ["criteria_id"], ["criteria.id"], name=op.f("fk_criteria_matches_criteria_id_criteria")
        ),
        sa.PrimaryKeyConstraint("criteria_id", "nct_id", name=op.f("pk_criteria_matches")),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("window", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_deliveries_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "subscriber_id",
            "frequency",
            "window",
            name=op.f("uq_deliveries_subscriber_id_frequency_window"),
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_message_id", ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deliveries_state"), ["state"], unique=False)

    op.create_table(
        "studies",
        sa.Column("nct_id", sa.String(length=11), nullable=False),
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("last_update", sa.String(length=10), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["received_events.id"], name=op.f("fk_studies_event_pk_received_events")
        ),
        sa.PrimaryKeyConstraint("nct_id", name=op.f("pk_studies")),
    )
    op.create_table(
        "study_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("nct_id", sa.String(length=11), nullable=False),
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["received_events.id"],
            name=op.f("fk_study_changes_event_pk_received_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_changes")),
    )
    with op.batch_alter_table("study_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_changes_event_pk"), ["event_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_study_changes_nct_id"), ["nct_id"], unique=False)
        batch_op.create_index(
            "ix_study_changes_unmatched", ["matched_at", "event_pk"], unique=False
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("nct_id", sa.String(length=11), nullable=True),
        sa.Column(
            "criteria_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True
        ),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("near_lat", sa.Float(), nullable=True),
        sa.Column("near_lon", sa.Float(), nullable=True),
        sa.Column("near_km", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["criteria_id"], ["criteria.id"], name=op.f("fk_subscriptions_criteria_id_criteria")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriptions_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "subscriber_id", "identity", name=op.f("uq_subscriptions_subscriber_id_identity")
        ),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_criteria_id", ["criteria_id"], unique=False)
        batch_op.create_index("ix_subscriptions_nct_id", ["nct_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_subscriptions_subscriber_id"), ["subscriber_id"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column(
            "change_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("nct_id", sa.String(length=11), nullable=False),
        sa.Column("subscription_ids", sa.JSON(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["study_changes.id"],
            name=op.f("fk_notifications_change_id_study_changes"),
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_notifications_delivery_id_deliveries")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_notifications_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "subscriber_id", "change_id", name=op.f("uq_notifications_subscriber_id_change_id")
        ),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            "ix_notifications_pending", ["subscriber_id", "frequency", "delivery_id"], unique=False
        )


    if op.get_bind().dialect.name == "postgresql":
        # Event payloads are whole registry records: lz4 compresses them several
        # times faster than the default pglz (skipped where the server lacks lz4).
        op.execute(
            """
            DO $$ BEGIN
                ALTER TABLE received_events ALTER COLUMN payload SET COMPRESSION lz4;
                ALTER TABLE received_events ALTER COLUMN summary SET COMPRESSION lz4;
                ALTER TABLE studies ALTER COLUMN summary SET COMPRESSION lz4;
            EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
            END $$;
            """
        )


def downgrade() -> None:

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_pending")
        batch_op.drop_index(batch_op.f("ix_notifications_delivery_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_subscriber_id"))
        batch_op.drop_index("ix_subscriptions_nct_id")
        batch_op.drop_index("ix_subscriptions_criteria_id")

    op.drop_table("subscriptions")
    with op.batch_alter_table("study_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_study_changes_unmatched")
        batch_op.drop_index(batch_op.f("ix_study_changes_nct_id"))
        batch_op.drop_index(batch_op.f("ix_study_changes_event_pk"))

    op.drop_table("study_changes")
    op.drop_table("studies")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_state"))
        batch_op.drop_index("ix_deliveries_message_id")

    op.drop_table("deliveries")
    op.drop_table("criteria_matches")
    op.drop_table("suppressions")
    op.drop_table("subscribers")
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signups_email"))
        batch_op.drop_index(batch_op.f("ix_signups_created_at"))
        batch_op.drop_index(batch_op.f("ix_signups_client_hash"))

    op.drop_table("signups")
    with op.batch_alter_table("received_events", schema=None) as batch_op:
        batch_op.drop_index("ix_received_events_pending")
        batch_op.drop_index(batch_op.f("ix_received_events_nct_id"))

    op.drop_table("received_events")
    op.drop_table("feedback_messages")
    op.drop_table("dead_letters")
    with op.batch_alter_table("criteria", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_criteria_match_key"))

    op.drop_table("criteria")
