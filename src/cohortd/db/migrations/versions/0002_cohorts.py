"""cohorts and motions

Revision ID: 0002_cohorts
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cohortd.db.types

revision = "0002_cohorts"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("cohort_type", sa.String(length=20), nullable=False),
        sa.Column("grouping_field", sa.String(length=64), nullable=True),
        sa.Column("grouping_value", sa.String(length=255), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_cohorts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint(
            "org_id",
            "livemode",
            "cohort_type",
            "grouping_field",
            "grouping_value",
            name="uq_cohorts_grouping",
        ),
    )
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.create_index("ix_cohorts_org_mode", ["org_id", "livemode"], unique=False)

    op.create_table(
        "motions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cohort_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cohortd.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_motions_cohort_id_cohorts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_motions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_motions")),
    )
    with op.batch_alter_table("motions", schema=None) as batch_op:
        batch_op.create_index("ix_motions_cohort", ["cohort_id", "status"], unique=False)
        batch_op.create_index("ix_motions_org_mode", ["org_id", "livemode"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("motions", schema=None) as batch_op:
        batch_op.drop_index("ix_motions_org_mode")
        batch_op.drop_index("ix_motions_cohort")
    op.drop_table("motions")
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.drop_index("ix_cohorts_org_mode")
    op.drop_table("cohorts")
