"""Bodies and answers of the live writes (SPEC §9).

Row fields are taken as given (text, numbers as written) and checked by the import's
own row validation (``imports.validation.validate_record``), so the API accepts a row
exactly when an import file would."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from cohortd.api.schemas import ReadSchema, Schema
from cohortd.subscribers.schemas import Subscription

Text = Annotated[str, StringConstraints(max_length=10_000)]
Number = int | float | str
Day = Annotated[str, Field(description="YYYY-MM-DD")]


class SubscriberCreate(Schema):
    """One customer (SPEC §1). ``created_at`` defaults to now (UTC)."""

    id: Text
    name: Text | None = None
    email: Text | None = None
    country: Text | None = None
    currency: Text | None = None
    industry: Text | None = None
    channel: Text | None = None
    size: Text | None = None
    segment: Text | None = None
    territory: Text | None = None
    owner_id: Text | None = None
    status: Text | None = None
    plan_id: Text | None = None
    tags: Annotated[list[Text], Field(max_length=1_000)] | None = None
    engagement_score: Number | None = None
    health_score: Number | None = None
    risk_score: Number | None = None
    created_at: Text | None = None
    metadata: dict[str, Any] | None = None


class SubscriptionUpsert(Schema):
    """One subscription row (SPEC §1), upserted on ``id``; ``mrr`` in the major unit."""

    id: Text
    customer_id: Text
    plan_id: Text | None = None
    currency: Text
    mrr: Number = Field(description="Major units, exact: '49.90' (a string keeps it exact).")
    start_date: Day
    end_date: Day | None = None
    status: Text | None = None


class CancelBody(Schema):
    effective_date: Day | None = Field(default=None, description="Default: today, UTC.")


class ResumeBody(CancelBody):
    pass


class PauseBody(CancelBody):
    resume_date: Day | None = Field(default=None, description="Resume on this day (optional).")


class ChangePlanBody(CancelBody):
    plan_id: Text
    mrr: Number = Field(description="The new MRR in the major unit of the currency.")
    currency: Text | None = Field(default=None, description="Default: the row's currency.")


class CustomerRows(ReadSchema):
    """A customer's subscription rows after a write, by start date and id."""

    object: Literal["list"] = "list"
    livemode: bool
    customer_id: str
    data: list[Subscription]
