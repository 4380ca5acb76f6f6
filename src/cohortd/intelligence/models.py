"""Control-plane tables of cohort intelligence: snapshot runs, recordings, anomalies, settings.

Every row carries ``org_id`` and ``livemode`` and every query filters both. Decimal
values (averages, anomaly values) are kept as decimal strings: exact on SQLite and
PostgreSQL alike, and never binary floats.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cohortd.db import Base, utcnow
from cohortd.db.types import UTCDateTime


class SnapshotRun(Base):
    """One snapshot run over every cohort of an organization and mode, as a job.

    ``status`` goes queued → running → succeeded | failed. ``active_key`` holds
    ``org_id:livemode`` while the run is queued or running and is null after: its
    uniqueness is what allows one run at a time per organization and mode (several nulls
    are allowed on SQLite and PostgreSQL alike). ``heartbeat_at`` is touched while the run
    works; a run whose heartbeat stopped is marked failed (``intelligence.jobs``).
    """

    __tablename__ = "snapshot_runs"
    __table_args__ = (
        Index("ix_snapshot_runs_org_mode", "org_id", "livemode"),
        UniqueConstraint("active_key", name="uq_snapshot_runs_active_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    run_date: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(20))
    cohort_count: Mapped[int] = mapped_column(Integer, default=0)
    anomaly_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="succeeded")
    step: Mapped[str | None] = mapped_column(String(20), nullable=True)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active_key: Mapped[str | None] = mapped_column(String(60), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # the warehouse's data version the run computed on (null: a write landed meanwhile)
    data_version: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CohortRecording(Base):
    """What a run recorded for one cohort: size, average scores and the member set.

    The member set is kept compactly (``intelligence.member_sets``): ``entered`` and
    ``exited`` are the diff against the cohort's previous recording (null on its first),
    and ``members`` is the whole sorted set, kept only on a cohort's first recording and
    then every ``FULL_EVERY``-th one; any recording's set is the last full set with the
    later diffs applied.
    """

    __tablename__ = "cohort_recordings"
    __table_args__ = (
        Index("ix_cohort_recordings_cohort", "org_id", "livemode", "cohort_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("snapshot_runs.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    run_date: Mapped[date] = mapped_column(Date)
    member_count: Mapped[int] = mapped_column(Integer)
    avg_health_score: Mapped[str | None] = mapped_column(String(40), nullable=True)
    avg_risk_score: Mapped[str | None] = mapped_column(String(40), nullable=True)
    members: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    entered: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    exited: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # the last complete month's snapshot, exact (``intelligence.runs.stored_snapshot``)
    period_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Anomaly(Base):
    """One detected anomaly. A (cohort, type, period) is reported once: later runs that
    see it again keep the first detection."""

    __tablename__ = "anomalies"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "livemode", "cohort_id", "type", "period", name="uq_anomalies_key"
        ),
        Index("ix_anomalies_org_mode", "org_id", "livemode", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(ForeignKey("snapshot_runs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    threshold: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnomalySettings(Base):
    """An organization's thresholds for one mode (absent: SPEC §4's defaults)."""

    __tablename__ = "anomaly_settings"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
