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
    """One recorded snapshot run over every cohort of an organization and mode."""

    __tablename__ = "snapshot_runs"
    __table_args__ = (Index("ix_snapshot_runs_org_mode", "org_id", "livemode"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    run_date: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(20))
    cohort_count: Mapped[int] = mapped_column(Integer, default=0)
    anomaly_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CohortRecording(Base):
    """What a run recorded for one cohort: size, average scores and the member set.

    ``members`` is the sorted member ids, newline-joined and zlib-compressed, so that
    the entered/exited diff between two runs needs no per-member rows.
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
    members: Mapped[bytes] = mapped_column(LargeBinary)
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
