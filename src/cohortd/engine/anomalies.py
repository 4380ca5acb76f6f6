"""Anomaly rules (SPEC §4): pure functions from measured values to findings.

Each rule answers ``None`` (nothing to report) or a ``Finding`` whose ``value`` is the
measured number and ``threshold`` the bound it crossed:

- ``low_nrr``: NRR < 100 → warning, < 90 → critical (value = NRR).
- ``accelerating_churn``: churn counts c0, c1, c2 (oldest first) with c0 < c1 < c2,
  c2 ≥ 3, and c2 ≥ 1.5 × c0 → warning, ≥ 2 × c0 → critical (value = c2, threshold =
  ratio × c0).
- ``health_decline``: average health down ≥ 10 points from the previous recording →
  warning, ≥ 20 → critical (value = the drop in points).
- ``lagging_vintage``: a vintage's MRR retention at age k more than 10 points under the
  mean of the four previous vintages at age k → warning (value = its retention,
  threshold = mean − 10). SPEC gives this rule one level only.

Comparisons are exact (``Decimal``); every bound comes from ``Thresholds``, which an
organization may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cohortd.engine.money import round_half_away


class AnomalyType(StrEnum):
    low_nrr = "low_nrr"
    accelerating_churn = "accelerating_churn"
    health_decline = "health_decline"
    lagging_vintage = "lagging_vintage"


class Severity(StrEnum):
    warning = "warning"
    critical = "critical"


@dataclass(frozen=True)
class Thresholds:
    """Every bound of the four rules (SPEC §4's defaults)."""

    low_nrr_warning: Decimal = Decimal(100)
    low_nrr_critical: Decimal = Decimal(90)
    churn_warning_ratio: Decimal = Decimal("1.5")
    churn_critical_ratio: Decimal = Decimal(2)
    churn_min_count: int = 3
    health_warning_drop: Decimal = Decimal(10)
    health_critical_drop: Decimal = Decimal(20)
    vintage_lag_points: Decimal = Decimal(10)
    vintage_peers: int = 4

    def as_json(self) -> dict[str, Any]:
        return {k: float(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Finding:
    """One detected anomaly, before it is stored against a cohort and a run."""

    type: AnomalyType
    severity: Severity
    period: str
    value: Decimal
    threshold: Decimal
    message: str


def _shown(value: Decimal) -> str:
    return f"{round_half_away(value)}"


def low_nrr(nrr: Decimal | None, *, period: str, thresholds: Thresholds) -> Finding | None:
    """NRR under the warning bound (warning) or the critical bound (critical)."""
    if nrr is None:
        return None
    if nrr < thresholds.low_nrr_critical:
        severity, bound = Severity.critical, thresholds.low_nrr_critical
    elif nrr < thresholds.low_nrr_warning:
        severity, bound = Severity.warning, thresholds.low_nrr_warning
    else:
        return None
    return Finding(
        AnomalyType.low_nrr,
        severity,
        period,
        nrr,
        bound,
        f"NRR {_shown(nrr)}% in the period starting {period} is below {_shown(bound)}%.",
    )


def accelerating_churn(
    counts: Sequence[int], *, period: str, thresholds: Thresholds
) -> Finding | None:
    """Churn counts of three consecutive periods, oldest first, ``period`` the latest's."""
    if len(counts) < 3:
        return None
    two_back, previous, latest = counts[-3], counts[-2], counts[-1]
    if latest < thresholds.churn_min_count or not (two_back < previous < latest):
        return None
    critical = thresholds.churn_critical_ratio * two_back
    warning = thresholds.churn_warning_ratio * two_back
    if latest >= critical:
        severity, bound = Severity.critical, critical
    elif latest >= warning:
        severity, bound = Severity.warning, warning
    else:
        return None
    return Finding(
        AnomalyType.accelerating_churn,
        severity,
        period,
        Decimal(latest),
        bound,
        f"Churned customers rose two periods running ({two_back} → {previous} → {latest}) "
        f"up to the period starting {period}.",
    )


def health_decline(
    previous: Decimal | None, current: Decimal | None, *, period: str, thresholds: Thresholds
) -> Finding | None:
    """The cohort's average health fell since the previous recording."""
    if previous is None or current is None:
        return None
    drop = previous - current
    if drop >= thresholds.health_critical_drop:
        severity, bound = Severity.critical, thresholds.health_critical_drop
    elif drop >= thresholds.health_warning_drop:
        severity, bound = Severity.warning, thresholds.health_warning_drop
    else:
        return None
    return Finding(
        AnomalyType.health_decline,
        severity,
        period,
        drop,
        bound,
        f"Average health fell {_shown(drop)} points ({_shown(previous)} → {_shown(current)}) "
        "since the previous recording.",
    )


def lagging_vintage(
    retention: Decimal | None,
    peers: Sequence[Decimal],
    *,
    vintage: str,
    age: int,
    thresholds: Thresholds,
) -> Finding | None:
    """``retention`` at age ``age`` versus the previous vintages' (``peers``, newest last)."""
    wanted = thresholds.vintage_peers
    if retention is None or len(peers) < wanted:
        return None
    recent = peers[-wanted:]
    mean = sum(recent, Decimal(0)) / wanted
    bound = mean - thresholds.vintage_lag_points
    if not retention < bound:
        return None
    return Finding(
        AnomalyType.lagging_vintage,
        Severity.warning,
        f"M{age}",
        retention,
        bound,
        f"{vintage} keeps {_shown(retention)}% of its MRR at month {age}, more than "
        f"{_shown(thresholds.vintage_lag_points)} points under the mean of the previous "
        f"{wanted} vintages ({_shown(mean)}%).",
    )
