"""intelligence: a run keeps each cohort's last complete month and its data version

``GET /v1/cohorts/compare`` for the last complete month reads them instead of computing
every cohort again, while the data is the one the run computed on. Runs recorded before
have neither and are never read so.

Revision ID: 0009_run_period_snapshots
Revises: 0008_delivery_attempts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_run_period_snapshots"
down_revision = "0008_delivery_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_version", sa.String(length=200), nullable=True))
    with op.batch_alter_table("cohort_recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_snapshot", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cohort_recordings", schema=None) as batch_op:
        batch_op.drop_column("period_snapshot")
    with op.batch_alter_table("snapshot_runs", schema=None) as batch_op:
        batch_op.drop_column("data_version")
