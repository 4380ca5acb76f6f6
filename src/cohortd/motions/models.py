"""The ``motions`` table: Recurr motions target a cohort (SPEC §3: ``used_by_motions``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cohortd.db import Base, utcnow
from cohortd.db.types import UTCDateTime


class MotionType(StrEnum):
    migration = "migration"
    annual_nudge = "annual_nudge"
    cancel_save = "cancel_save"
    winback = "winback"
    re_engagement = "re_engagement"
    referral = "referral"


class MotionStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    completed = "completed"


class Motion(Base):
    """A motion; ``cohort_id`` is nulled when its (unused by active motions) cohort is deleted."""

    __tablename__ = "motions"
    __table_args__ = (
        Index("ix_motions_org_mode", "org_id", "livemode"),
        Index("ix_motions_cohort", "cohort_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    cohort_id: Mapped[str | None] = mapped_column(
        ForeignKey("cohorts.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
