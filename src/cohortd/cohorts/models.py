"""The ``cohorts`` table of the control plane (SPEC §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cohortd.db import Base, utcnow
from cohortd.db.types import UTCDateTime


class Cohort(Base):
    """A cohort definition. Membership is never stored: it is evaluated when asked.

    Generated cohorts (vintage, segment, territory, rep) are unique per organization,
    mode and grouping; custom ones have null groupings, which unique constraints ignore.
    """

    __tablename__ = "cohorts"
    __table_args__ = (
        UniqueConstraint(
            "org_id",
            "livemode",
            "cohort_type",
            "grouping_field",
            "grouping_value",
            name="uq_cohorts_grouping",
        ),
        Index("ix_cohorts_org_mode", "org_id", "livemode"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    cohort_type: Mapped[str] = mapped_column(String(20))
    grouping_field: Mapped[str | None] = mapped_column(String(64), nullable=True)
    grouping_value: Mapped[str | None] = mapped_column(String(255), nullable=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
