"""Response shapes of ``GET /v1/reports/cohort`` (documentation; the body is built by the
engine as plain JSON so that numbers keep their exact rounding)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CohortPeriod(BaseModel):
    """One period k of a cohort (SPEC §2), the seed's fields plus the additive ones."""

    mrr_retained: float
    customers_retained: int
    mrr_retention: float
    customer_retention: float
    mrr_retention_relative: float
    customer_retention_relative: float
    mrr_churn: float
    customer_churn: float
    mrr_churn_relative: float
    customer_churn_relative: float
    complete: bool = Field(description="False while the evaluation day is before the period's end.")
    mrr_retained_gross: float = Field(description="MRR with each member capped at its initial MRR.")
    mrr_retention_gross: float


class CohortRowSchema(BaseModel):
    cohort_group: str = Field(description="Period end (YYYY-MM-DD), breakdown value, or average.")
    initial_mrr: float | None = None
    initial_customers: int | None = None
    periods: list[CohortPeriod]


class CohortReport(BaseModel):
    """The envelope: ``result`` is ``{"list": [...]}`` or, with ``format=chart``, a list of
    ``{"period": k, "breakdown": {group: {"label": group, ...period fields}}}``."""

    interval: str
    breakdown: str | None
    currency: str
    result: dict[str, list[CohortRowSchema]] | list[dict[str, Any]]
