"""webhooks: one delivery row per attempt

Before, a delivery row was one (event, destination) pair whose ``attempt`` counted the
attempts made and whose answer was the last one. Now each row is one attempt, numbered
from 1: a pending row is the attempt to make next. A pending or cancelled row's number is
therefore one more than the attempts its pair had made; a finished row keeps its count,
which is the number of its last attempt. The earlier attempts' answers were not kept and
cannot be recovered.

Revision ID: 0008_delivery_attempts
Revises: 0007_snapshot_runs
"""

from __future__ import annotations

from alembic import op

revision = "0008_delivery_attempts"
down_revision = "0007_snapshot_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE webhook_deliveries SET attempt = attempt + 1 "
        "WHERE status IN ('pending', 'cancelled')"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE webhook_deliveries SET attempt = attempt - 1 "
        "WHERE status IN ('pending', 'cancelled')"
    )
