"""Subscriber and subscription API schemas (Recurr's Subscribers and Subscriptions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from cohortd.api.schemas import ReadSchema, Schema

Tag = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class Subscriber(ReadSchema):
    """A customer as of today. ``mrr`` is an exact decimal string in ``currency``'s major unit."""

    id: str
    object: Literal["subscriber"] = "subscriber"
    livemode: bool
    name: str | None
    email: str | None = Field(description="Returned to authenticated callers; never logged.")
    email_hashed: str | None = Field(
        description="sha256: + hex SHA-256 of the trimmed, lower-cased email."
    )
    country: str | None
    currency: str | None = Field(
        description="Billing currency: given, else the earliest subscription's."
    )
    industry: str | None
    channel: str | None
    size: str | None
    segment: str | None
    territory: str | None
    owner_id: str | None
    status: str | None = Field(description="Given (describes today), else derived today.")
    plan_id: str | None = Field(description="Given, else the covering row with the highest MRR.")
    tags: list[str]
    engagement_score: float | None
    health_score: float | None
    risk_score: float | None
    created_at: datetime
    metadata: dict[str, Any] | None
    paid_started_at: date | None
    tenure_days: int | None
    mrr: str | None = Field(
        description="MRR today in `currency`: a decimal string, null without a currency."
    )


class SubscriberUpdate(Schema):
    """Only ``tags`` and ``metadata`` may change; each given one replaces the old whole."""

    tags: Annotated[list[Tag], Field(max_length=1_000)] | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("tags")
    @classmethod
    def _tags_not_null(cls, value: list[str] | None) -> list[str]:
        if value is None:
            raise ValueError("tags may be omitted or [] but not null")
        return value


class Subscription(ReadSchema):
    """One stretch of constant MRR: ``[start_date, end_date)``."""

    id: str
    object: Literal["subscription"] = "subscription"
    livemode: bool
    customer_id: str
    plan_id: str | None
    currency: str
    mrr: str = Field(description="Exact decimal string in the currency's major unit.")
    start_date: date
    end_date: date | None
    status: str | None
