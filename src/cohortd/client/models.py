"""The API's objects as Pydantic models, independent of the server's own schemas.

Money and percentages are ``Decimal`` parsed from the JSON text itself, so ``12.34`` is
exactly 12.34, never a binary float. Every model keeps fields it does not know
(``extra="allow"``): a newer server can add fields without breaking an older client.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import Field

from cohortd.client import _metrics_models, _webhook_models
from cohortd.client._models_base import ApiModel as ApiModel

T = TypeVar("T")
Day = date  # for fields declared after a field named ``date``


class Page(ApiModel, Generic[T]):
    """One page of a cursor-paged list (SPEC §5)."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None = None


# -- keys -------------------------------------------------------------------------------


class ApiKey(ApiModel):
    id: str
    object: str = "api_key"
    livemode: bool
    role: str
    name: str | None = None
    masked_secret: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None


class ApiKeyWithSecret(ApiKey):
    """A key as created or rotated: ``secret`` is shown this once."""

    secret: str


# -- cohorts ----------------------------------------------------------------------------


class CohortDefinition(ApiModel):
    """Rule-based membership (SPEC §3); absent fields do not filter."""

    status: list[str] | None = None
    tenure_days_min: int | None = None
    tenure_days_max: int | None = None
    plan_ids: list[str] | None = None
    tags_include: list[str] | None = None
    tags_exclude: list[str] | None = None
    engagement_score_min: Decimal | None = None
    countries: list[str] | None = None
    currencies: list[str] | None = None
    industries: list[str] | None = None
    channels: list[str] | None = None
    sizes: list[str] | None = None
    segments: list[str] | None = None
    territories: list[str] | None = None
    owner_ids: list[str] | None = None
    created_from: date | None = None
    created_before: date | None = None


class Cohort(ApiModel):
    id: str
    object: str = "cohort"
    livemode: bool
    name: str
    description: str | None = None
    definition: CohortDefinition
    member_count: int
    as_of: date
    used_by_motions: list[str] = Field(default_factory=list)
    cohort_type: str
    grouping_field: str | None = None
    grouping_value: str | None = None
    created_at: datetime
    updated_at: datetime


class CohortDeleted(ApiModel):
    id: str
    object: str = "cohort"
    livemode: bool
    deleted: bool = True


class Definition(ApiModel):
    """One entry of Pillar's ``GET /api/cohorts/definitions``."""

    id: str
    name: str
    cohort_type: str
    grouping_field: str | None = None
    grouping_value: str | None = None
    filter_criteria: dict[str, Any] | None = None
    member_count: int


class Definitions(ApiModel):
    definitions: list[Definition]
    count: int


class DefinitionsGenerated(ApiModel):
    success: bool
    total_cohorts: int
    inserted: int
    updated: int
    breakdown: dict[str, int] = Field(default_factory=dict)


class Motion(ApiModel):
    id: str
    object: str = "motion"
    livemode: bool
    name: str | None = None
    type: str
    status: str
    cohort_id: str | None = None
    created_at: datetime
    updated_at: datetime


# -- subscribers and subscriptions ------------------------------------------------------


class Subscriber(ApiModel):
    id: str
    object: str = "subscriber"
    livemode: bool
    name: str | None = None
    email: str | None = None
    email_hashed: str | None = None
    country: str | None = None
    currency: str | None = None
    industry: str | None = None
    channel: str | None = None
    size: str | None = None
    segment: str | None = None
    territory: str | None = None
    owner_id: str | None = None
    status: str | None = None
    plan_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    engagement_score: Decimal | None = None
    health_score: Decimal | None = None
    risk_score: Decimal | None = None
    created_at: datetime
    metadata: dict[str, Any] | None = None
    paid_started_at: date | None = None
    tenure_days: int | None = None
    mrr: Decimal | None = None


class Subscription(ApiModel):
    id: str
    object: str = "subscription"
    livemode: bool
    customer_id: str
    plan_id: str | None = None
    currency: str
    mrr: Decimal
    start_date: date
    end_date: date | None = None
    status: str | None = None


class SubscriptionRows(ApiModel):
    """A live change's answer (SPEC §9): the customer's rows after the change."""

    object: str = "list"
    data: list[Subscription]


# -- imports and exchange rates ---------------------------------------------------------


class ImportProblem(ApiModel):
    file: str | None = None
    kind: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    reason: str


class ImportJob(ApiModel):
    id: str
    object: str = "import"
    livemode: bool
    status: str
    on_error: str
    files: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, Any] = Field(default_factory=dict)
    errors: list[ImportProblem] = Field(default_factory=list)
    error_count: int = 0
    created_at: datetime
    completed_at: datetime | None = None


class ExchangeRate(ApiModel):
    id: str
    object: str = "exchange_rate"
    livemode: bool
    date: Day
    currency: str
    rate: Decimal


class KindCounts(ApiModel):
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


class ExchangeRatesWritten(ApiModel):
    object: str = "exchange_rates"
    livemode: bool
    counts: KindCounts


# -- the retention report ---------------------------------------------------------------


class CohortPeriod(ApiModel):
    """One cell of the triangle (SPEC §2); percentages are 0-100 with 2 decimals."""

    mrr_retained: Decimal
    customers_retained: int
    mrr_retention: Decimal
    customer_retention: Decimal
    mrr_retention_relative: Decimal
    customer_retention_relative: Decimal
    mrr_churn: Decimal
    customer_churn: Decimal
    mrr_churn_relative: Decimal
    customer_churn_relative: Decimal
    complete: bool | None = None
    mrr_retained_gross: Decimal | None = None
    mrr_retention_gross: Decimal | None = None


class CohortRow(ApiModel):
    """One cohort (or the closing ``average`` row, which has no ``initial_*``)."""

    cohort_group: str
    initial_mrr: Decimal | None = None
    initial_customers: int | None = None
    periods: list[CohortPeriod]


class ReportList(ApiModel):
    rows: list[CohortRow] = Field(alias="list")


class ChartCell(CohortPeriod):
    label: str


class ChartEntry(ApiModel):
    period: int
    breakdown: dict[str, ChartCell]


class CohortReport(ApiModel):
    """``GET /v1/reports/cohort``: ``result`` is a ``ReportList`` or, with
    ``format="chart"``, a list of ``ChartEntry``."""

    interval: str
    breakdown: str | None = None
    currency: str
    result: ReportList | list[ChartEntry]

    @property
    def rows(self) -> list[CohortRow]:
        """The list format's cohorts (``[]`` for a chart-format answer)."""
        return self.result.rows if isinstance(self.result, ReportList) else []


# -- cohort intelligence ----------------------------------------------------------------


class SnapshotPeriod(ApiModel):
    period_start: date
    period_end: date
    starting_mrr: Decimal
    new_mrr: Decimal
    reactivation_mrr: Decimal
    expansion_mrr: Decimal
    contraction_mrr: Decimal
    churn_mrr: Decimal
    ending_mrr: Decimal
    fx_impact: Decimal
    starting_arr: Decimal
    ending_arr: Decimal
    churn_count: int
    member_count: int
    nrr: Decimal | None = None
    grr: Decimal | None = None
    avg_health_score: Decimal | None = None
    avg_risk_score: Decimal | None = None


class Snapshots(ApiModel):
    object: str = "list"
    data: list[SnapshotPeriod]


class CurvePoint(CohortPeriod):
    month: int
    mature_customers: int
    mature_mrr: Decimal


class VintageCurve(ApiModel):
    object: str = "vintage_curve"
    cohort_id: str
    livemode: bool
    months: int
    currency: str
    initial_customers: int
    initial_mrr: Decimal
    periods: list[CurvePoint]


class CohortRanking(ApiModel):
    cohort_id: str
    name: str
    cohort_type: str
    nrr: Decimal | None = None
    grr: Decimal | None = None
    starting_mrr: Decimal | None = None
    ending_mrr: Decimal | None = None
    churn_count: int
    rank: int | None = None
    flag: str


class CohortComparison(ApiModel):
    object: str = "list"
    livemode: bool
    interval: str
    period_start: date
    period_end: date
    currency: str
    data: list[CohortRanking]


class MembershipChange(ApiModel):
    id: str
    object: str = "membership_change"
    livemode: bool
    cohort_id: str
    customer_id: str
    change: str
    run_id: str
    previous_run_id: str
    run_date: date


class Anomaly(ApiModel):
    id: str
    object: str = "anomaly"
    livemode: bool
    cohort_id: str
    run_id: str
    type: str
    severity: str
    period: str
    value: Decimal
    threshold: Decimal
    message: str
    created_at: datetime


class SnapshotRun(ApiModel):
    id: str
    object: str = "snapshot_run"
    livemode: bool
    run_date: date | None = None
    trigger: str | None = None
    status: str | None = None
    cohort_count: int | None = None
    anomaly_count: int | None = None
    anomalies: list[Anomaly] = Field(default_factory=list)
    created_at: datetime


class AnomalySettings(ApiModel):
    object: str = "anomaly_settings"
    livemode: bool
    low_nrr_warning: Decimal
    low_nrr_critical: Decimal
    churn_warning_ratio: Decimal
    churn_critical_ratio: Decimal
    churn_min_count: int
    health_warning_drop: Decimal
    health_critical_drop: Decimal
    vintage_lag_points: Decimal
    vintage_peers: int


# SPEC §7 and §8 objects live in their own modules; these are their public names
Event = _webhook_models.Event
Destination = _webhook_models.Destination
DestinationWithSecret = _webhook_models.DestinationWithSecret
Delivery = _webhook_models.Delivery
Replay = _webhook_models.Replay
MetricsEntry = _metrics_models.MetricsEntry
SummaryFigure = _metrics_models.SummaryFigure
Metrics = _metrics_models.Metrics
MetricPoint = _metrics_models.MetricPoint
MetricSeries = _metrics_models.MetricSeries
