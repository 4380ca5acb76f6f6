"""Anomaly thresholds per organization and mode (``/v1/settings/anomalies``)."""

from __future__ import annotations

from dataclasses import asdict, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cohortd.cohorts.service import Tenant
from cohortd.db import utcnow
from cohortd.engine.anomalies import DEFAULT_THRESHOLDS, Thresholds
from cohortd.errors import FieldError, ValidationFailed
from cohortd.intelligence import repository
from cohortd.intelligence.models import AnomalySettings
from cohortd.intelligence.schemas import AnomalySettingsUpdate


def thresholds(session: Session, tenant: Tenant) -> Thresholds:
    """The organization's thresholds for this mode, SPEC §4's defaults where unset."""
    row = repository.settings(session, org_id=tenant.org_id, livemode=tenant.livemode)
    return from_stored(row.thresholds if row else {})


def from_stored(stored: dict[str, Any]) -> Thresholds:
    known = asdict(DEFAULT_THRESHOLDS)
    values: dict[str, Any] = {}
    for name, value in stored.items():
        if name in known:
            default = known[name]
            values[name] = int(value) if isinstance(default, int) else Decimal(str(value))
    return replace(DEFAULT_THRESHOLDS, **values)


def _check(merged: Thresholds) -> None:
    problems: list[FieldError] = []
    if merged.low_nrr_critical > merged.low_nrr_warning:
        problems.append(FieldError(("body", "low_nrr_critical"), "must not exceed low_nrr_warning"))
    if merged.churn_critical_ratio < merged.churn_warning_ratio:
        problems.append(
            FieldError(("body", "churn_critical_ratio"), "must be at least churn_warning_ratio")
        )
    if merged.health_critical_drop < merged.health_warning_drop:
        problems.append(
            FieldError(("body", "health_critical_drop"), "must be at least health_warning_drop")
        )
    if problems:
        raise ValidationFailed("The thresholds contradict each other.", errors=problems)


def update(session: Session, tenant: Tenant, body: AnomalySettingsUpdate) -> Thresholds:
    """Merge the given thresholds into the stored ones (422 naming a contradiction)."""
    given = body.model_dump(exclude_unset=True, exclude_none=True)
    current = thresholds(session, tenant)
    # ints stay ints (counts); every other bound is an exact Decimal
    changes: dict[str, Any] = {
        k: v if isinstance(v, int) else Decimal(str(v)) for k, v in given.items()
    }
    merged = replace(current, **changes)
    _check(merged)
    stored = {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(merged).items()}
    row = repository.settings(session, org_id=tenant.org_id, livemode=tenant.livemode)
    if row is None:
        repository.add(
            session,
            AnomalySettings(
                org_id=tenant.org_id,
                livemode=tenant.livemode,
                thresholds=stored,
                updated_at=utcnow(),
            ),
        )
    else:
        row.thresholds = stored
        row.updated_at = utcnow()
        session.flush()
    return merged


def view(tenant: Tenant, values: Thresholds) -> dict[str, Any]:
    return {"object": "anomaly_settings", "livemode": tenant.livemode, **values.as_json()}
