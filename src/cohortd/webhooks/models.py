"""Webhook tables of the control plane: destinations, deliveries (the outbox), replays."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cohortd.db import Base
from cohortd.db.types import UTCDateTime


class PiiMode(StrEnum):
    full = "full"
    hashed_only = "hashed_only"
    minimal = "minimal"


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"  # the destination answered 410 (gone) or was deleted


class Destination(Base):
    """A receiver URL. Secrets are stored encrypted (``webhooks.secrets``), never in clear."""

    __tablename__ = "webhook_destinations"
    __table_args__ = (Index("ix_webhook_destinations_org_mode", "org_id", "livemode"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    pii_mode: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    schema_version: Mapped[str] = mapped_column(String(8))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    # the first failed attempt since the last success: 5 days of that -> disabled (failing)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One attempt to deliver an event to a destination. The first is the outbox row,
    written in the event's transaction; a failed attempt that is retried is followed by
    the next one's row (``attempt`` + 1, pending), written with the failure."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_destination", "destination_id", "id"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    destination_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_destinations.id", ondelete="CASCADE")
    )
    replay_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Replay(Base):
    """A replay job: events of a window queued again for one destination."""

    __tablename__ = "webhook_replays"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    destination_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_destinations.id", ondelete="CASCADE")
    )
    event_types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    from_at: Mapped[datetime] = mapped_column(UTCDateTime())
    to_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dedupe_strategy: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    queued_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
