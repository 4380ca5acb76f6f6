"""Response shapes of ``GET /v1/metrics`` and ``GET /v1/metrics/{metric}`` (SPEC §8)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MetricsEntry(BaseModel):
    """One period p, oldest first; money in the answer's currency, 2 decimals."""

    date: str = Field(description="The evaluation day: the period's last day, or end_date.")
    period_start: str
    complete: bool = Field(description="False for the period holding today or a cut end_date.")
    mrr: float = Field(description="Σ e: MRR on `date`.")
    arr: float = Field(description="12 × mrr.")
    customers: int = Field(description="Customers with MRR > 0 on `date`.")
    arpa: float | None = Field(description="mrr / customers; null without customers.")
    starting_mrr: float = Field(description="Σ s: MRR on the day before period_start.")
    new_mrr: float
    reactivation_mrr: float
    expansion_mrr: float
    contraction_mrr: float
    churn_mrr: float
    net_new_mrr: float = Field(description="new + reactivation + expansion − contraction − churn.")
    fx_impact: float = Field(description="Σ s at this period's rate − at the previous one's.")
    new_customers: int
    reactivated_customers: int
    churned_customers: int
    customer_churn_rate: float | None
    mrr_churn_rate: float | None
    net_mrr_churn_rate: float | None
    nrr: float | None
    grr: float | None
    quick_ratio: float | None
    ltv: float | None


class SummaryValue(BaseModel):
    """The last entry, the one before it, and the change between them in percent."""

    current: float | None
    previous: float | None
    percentage_change: float | None


class Metrics(BaseModel):
    object: Literal["metrics"]
    interval: str
    currency: str
    entries: list[MetricsEntry]
    summary: dict[str, SummaryValue] = Field(
        description="mrr, arr, customers, arpa, customer_churn_rate, mrr_churn_rate, nrr."
    )


class MetricPoint(BaseModel):
    date: str
    value: float | None
    percentage_change: float | None = Field(description="Against the entry before; null first.")


class Metric(BaseModel):
    object: Literal["metric"]
    metric: str
    interval: str
    currency: str
    entries: list[MetricPoint]
    summary: SummaryValue
