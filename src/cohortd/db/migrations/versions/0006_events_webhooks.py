"""events and webhooks: the event log, destinations, deliveries (outbox), replays

Revision ID: 0006_events_webhooks
Revises: 0005_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cohortd.db.types

revision = "0006_events_webhooks"
down_revision = "0005_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_events_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_events_org_mode_id", ["org_id", "livemode", "id"], unique=False)
        batch_op.create_index(
            "ix_events_org_mode_type", ["org_id", "livemode", "type"], unique=False
        )

    op.create_table(
        "webhook_destinations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=True),
        sa.Column("pii_mode", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("schema_version", sa.String(length=8), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=20), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column(
            "previous_secret_expires_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("failing_since", cohortd.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_destinations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_destinations")),
    )
    with op.batch_alter_table("webhook_destinations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_destinations_org_mode", ["org_id", "livemode"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("destination_id", sa.String(length=40), nullable=False),
        sa.Column("replay_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_attempt_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("claimed_until", cohortd.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["webhook_destinations.id"],
            name=op.f("fk_webhook_deliveries_destination_id_webhook_destinations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_webhook_deliveries_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_destination", ["destination_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_webhook_deliveries_event", ["event_id"], unique=False)

    op.create_table(
        "webhook_replays",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("destination_id", sa.String(length=40), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=True),
        sa.Column("from_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("to_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dedupe_strategy", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("queued_count", sa.Integer(), nullable=False),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["webhook_destinations.id"],
            name=op.f("fk_webhook_replays_destination_id_webhook_destinations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_replays_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_replays")),
    )


def downgrade() -> None:
    op.drop_table("webhook_replays")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_event")
        batch_op.drop_index("ix_webhook_deliveries_due")
        batch_op.drop_index("ix_webhook_deliveries_destination")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("webhook_destinations", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_destinations_org_mode")

    op.drop_table("webhook_destinations")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_mode_type")
        batch_op.drop_index("ix_events_org_mode_id")
        batch_op.drop_index("ix_events_created_at")

    op.drop_table("events")
