"""intelligence: snapshot runs as jobs, member sets kept as diffs

Revision ID: 0007_snapshot_runs
Revises: 0006_events_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cohortd.db.types

revision = "0007_snapshot_runs"
down_revision = "0006_events_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        # runs recorded before runs were jobs all completed
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="succeeded")
        )
        batch_op.add_column(sa.Column("step", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("steps_done", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("error", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("active_key", sa.String(length=60), nullable=True))
        for name in ("started_at", "heartbeat_at", "completed_at"):
            batch_op.add_column(
                sa.Column(name, cohortd.db.types.UTCDateTime(timezone=True), nullable=True)
            )
        batch_op.create_unique_constraint(op.f("uq_snapshot_runs_active_key"), ["active_key"])
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.alter_column("steps_done", server_default=None)
    with op.batch_alter_table("cohort_recordings", schema=None) as batch_op:
        batch_op.alter_column("members", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column("entered", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("exited", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cohort_recordings", schema=None) as batch_op:
        batch_op.drop_column("exited")
        batch_op.drop_column("entered")
        batch_op.alter_column("members", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_snapshot_runs_active_key"), type_="unique")
        for name in ("completed_at", "heartbeat_at", "started_at", "active_key", "error"):
            batch_op.drop_column(name)
        batch_op.drop_column("steps_done")
        batch_op.drop_column("step")
        batch_op.drop_column("status")
