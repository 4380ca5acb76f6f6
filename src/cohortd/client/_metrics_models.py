"""SaaS metrics (SPEC §8) as Pydantic models (re-exported by ``cohortd.client.models``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field

from cohortd.client._models_base import ApiModel

Day = date  # for fields declared after a field named ``date``


class MetricsEntry(ApiModel):
    date: Day
    period_start: Day
    complete: bool
    mrr: Decimal
    arr: Decimal
    customers: int
    arpa: Decimal | None = None
    starting_mrr: Decimal
    new_mrr: Decimal
    reactivation_mrr: Decimal
    expansion_mrr: Decimal
    contraction_mrr: Decimal
    churn_mrr: Decimal
    net_new_mrr: Decimal
    fx_impact: Decimal
    new_customers: int
    reactivated_customers: int
    churned_customers: int
    customer_churn_rate: Decimal | None = None
    mrr_churn_rate: Decimal | None = None
    net_mrr_churn_rate: Decimal | None = None
    nrr: Decimal | None = None
    grr: Decimal | None = None
    quick_ratio: Decimal | None = None
    ltv: Decimal | None = None


class SummaryFigure(ApiModel):
    current: Decimal | None = None
    previous: Decimal | None = None
    percentage_change: Decimal | None = None


class Metrics(ApiModel):
    object: str = "metrics"
    interval: str
    currency: str
    entries: list[MetricsEntry]
    summary: dict[str, SummaryFigure] = Field(default_factory=dict)


class MetricPoint(ApiModel):
    date: Day
    value: Decimal | None = None
    percentage_change: Decimal | None = None


class MetricSeries(ApiModel):
    object: str = "metric"
    metric: str
    interval: str
    currency: str
    entries: list[MetricPoint]
    summary: SummaryFigure | dict[str, Any] | None = None
