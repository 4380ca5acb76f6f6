"""The ``events`` table of the control plane (SPEC §7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cohortd.db import Base
from cohortd.db.types import UTCDateTime


class Event(Base):
    """One recorded change. ``envelope`` is the full envelope as JSON text, written once:
    every delivery body is derived from it, so attempts and replays are byte-identical."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_org_mode_id", "org_id", "livemode", "id"),
        Index("ix_events_org_mode_type", "org_id", "livemode", "type"),
        Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(64))
    subscriber_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    envelope: Mapped[str] = mapped_column(Text)
