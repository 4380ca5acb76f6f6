"""cohort intelligence: snapshot runs, recordings, anomalies, anomaly settings

Revision ID: 0004_intelligence
Revises: 0003_imports
Create Date: 2026-11-22 03:02:26.753173
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cohortd.db.types

revision = "0004_intelligence"
down_revision = "0003_imports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly_settings",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("updated_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_anomaly_settings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "livemode", name=op.f("pk_anomaly_settings")),
    )
    op.create_table(
        "snapshot_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("cohort_count", sa.Integer(), nullable=False),
        sa.Column("anomaly_count", sa.Integer(), nullable=False),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_snapshot_runs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_runs")),
    )
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        batch_op.create_index("ix_snapshot_runs_org_mode", ["org_id", "livemode"], unique=False)

    op.create_table(
        "anomalies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("cohort_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.String(length=40), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_anomalies_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_anomalies_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["snapshot_runs.id"],
            name=op.f("fk_anomalies_run_id_snapshot_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
        sa.UniqueConstraint(
            "org_id", "livemode", "cohort_id", "type", "period", name="uq_anomalies_key"
        ),
    )
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.create_index("ix_anomalies_org_mode", ["org_id", "livemode", "id"], unique=False)

    op.create_table(
        "cohort_recordings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("cohort_id", sa.String(length=40), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("avg_health_score", sa.String(length=40), nullable=True),
        sa.Column("avg_risk_score", sa.String(length=40), nullable=True),
        sa.Column("members", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_cohort_recordings_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_cohort_recordings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["snapshot_runs.id"],
            name=op.f("fk_cohort_recordings_run_id_snapshot_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_recordings")),
    )
    with op.batch_alter_table("cohort_recordings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cohort_recordings_cohort", ["org_id", "livemode", "cohort_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cohort_recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_cohort_recordings_cohort")

    op.drop_table("cohort_recordings")
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_anomalies_org_mode")

    op.drop_table("anomalies")
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshot_runs_org_mode")

    op.drop_table("snapshot_runs")
    op.drop_table("anomaly_settings")
