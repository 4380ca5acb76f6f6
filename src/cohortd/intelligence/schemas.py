"""API schemas of cohort intelligence, by role."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from cohortd.api.schemas import ReadSchema, Schema

Percent = Annotated[Decimal, Field(ge=0, le=1000)]
Points = Annotated[Decimal, Field(ge=0, le=100)]
Ratio = Annotated[Decimal, Field(ge=1, le=1000)]


class AnomalySettingsUpdate(Schema):
    """Thresholds to change; absent ones keep their value (applied with ``exclude_unset``)."""

    low_nrr_warning: Percent | None = Field(default=None, description="NRR below: warning.")
    low_nrr_critical: Percent | None = Field(default=None, description="NRR below: critical.")
    churn_warning_ratio: Ratio | None = Field(
        default=None, description="Latest churn count ≥ this × the one two periods back: warning."
    )
    churn_critical_ratio: Ratio | None = Field(default=None, description="… critical.")
    churn_min_count: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="Fewer churns in the latest period: rule ignored."
    )
    health_warning_drop: Points | None = Field(
        default=None, description="Average health down at least this many points: warning."
    )
    health_critical_drop: Points | None = Field(default=None, description="… critical.")
    vintage_lag_points: Points | None = Field(
        default=None, description="MRR retention more than this under the peers' mean: warning."
    )
    vintage_peers: Annotated[int, Field(ge=1, le=40)] | None = Field(
        default=None, description="How many previous vintages make the mean."
    )


class AnomalySettingsView(ReadSchema):
    object: Literal["anomaly_settings"] = "anomaly_settings"
    livemode: bool
    low_nrr_warning: float
    low_nrr_critical: float
    churn_warning_ratio: float
    churn_critical_ratio: float
    churn_min_count: int
    health_warning_drop: float
    health_critical_drop: float
    vintage_lag_points: float
    vintage_peers: int


class Anomaly(ReadSchema):
    id: str
    object: Literal["anomaly"] = "anomaly"
    livemode: bool
    cohort_id: str
    run_id: str
    type: str
    severity: str
    period: str
    value: float
    threshold: float
    message: str
    created_at: datetime


class RunProgress(ReadSchema):
    step: str | None = Field(description="membership, snapshots, curves or storing")
    steps_done: int
    steps: int


class SnapshotRun(ReadSchema):
    id: str
    object: Literal["snapshot_run"] = "snapshot_run"
    livemode: bool
    status: Literal["queued", "running", "succeeded", "failed"]
    run_date: str
    trigger: str
    progress: RunProgress
    cohort_count: int | None = Field(description="Cohorts recorded (once succeeded).")
    anomaly_count: int | None = Field(description="New anomalies (once succeeded).")
    anomalies: list[Anomaly]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class MembershipChange(ReadSchema):
    id: str
    object: Literal["membership_change"] = "membership_change"
    livemode: bool
    cohort_id: str
    customer_id: str
    change: Literal["entered", "exited"]
    run_id: str
    previous_run_id: str
    run_date: str
