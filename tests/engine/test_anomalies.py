"""SPEC §4 anomaly rules: each just below and just above (or on) each threshold."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cohortd.engine.anomalies import (
    DEFAULT_THRESHOLDS,
    AnomalyType,
    Severity,
    Thresholds,
    accelerating_churn,
    health_decline,
    lagging_vintage,
    low_nrr,
)

T = DEFAULT_THRESHOLDS
D = Decimal


@pytest.mark.parametrize(
    ("nrr", "expected"),
    [
        (D("100"), None),  # not below 100
        (D("99.99"), Severity.warning),  # just under 100
        (D("90"), Severity.warning),  # 90 is not below 90
        (D("89.99"), Severity.critical),
        (None, None),  # starting MRR 0: no NRR, nothing to say
    ],
)
def test_low_nrr(nrr: Decimal | None, expected: Severity | None) -> None:
    found = low_nrr(nrr, period="2025-03-01", thresholds=T)
    assert (found.severity if found else None) == expected
    if found:
        assert found.type is AnomalyType.low_nrr and found.value == nrr
        assert found.threshold == (D(90) if expected is Severity.critical else D(100))


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # 4 → 5 → 6: up twice, 6 ≥ 1.5 × 4 = 6 → warning (on the bound)
        ((4, 5, 6), Severity.warning),
        # 4 → 5 → 5: not up the second time
        ((4, 5, 5), None),
        # 4 → 4 → 7: not up the first time
        ((4, 4, 7), None),
        # 5 → 6 → 7: 7 < 1.5 × 5 = 7.5 → just under the warning ratio
        ((5, 6, 7), None),
        # 4 → 6 → 7: 7 < 2 × 4 = 8 → warning; 4 → 6 → 8: 8 ≥ 8 → critical
        ((4, 6, 7), Severity.warning),
        ((4, 6, 8), Severity.critical),
        # 0 → 1 → 2: only 2 churns, below the minimum of 3 → ignored
        ((0, 1, 2), None),
        # 0 → 1 → 3: 3 churns, 3 ≥ 2 × 0 → critical
        ((0, 1, 3), Severity.critical),
        # 1 → 2 → 3: 3 ≥ 2 × 1 → critical
        ((1, 2, 3), Severity.critical),
        ((5, 6), None),  # fewer than three periods
    ],
)
def test_accelerating_churn(counts: tuple[int, ...], expected: Severity | None) -> None:
    found = accelerating_churn(counts, period="2025-03-01", thresholds=T)
    assert (found.severity if found else None) == expected


def test_accelerating_churn_reports_the_crossed_bound() -> None:
    found = accelerating_churn((4, 5, 6), period="2025-03-01", thresholds=T)
    assert found is not None
    assert (found.value, found.threshold) == (D(6), D("6.0"))  # 1.5 × 4


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (D("70"), D("60.01"), None),  # down 9.99
        (D("70"), D("60"), Severity.warning),  # down exactly 10
        (D("70"), D("50.01"), Severity.warning),  # down 19.99
        (D("70"), D("50"), Severity.critical),  # down exactly 20
        (D("70"), D("80"), None),  # up
        (None, D("10"), None),  # no previous recording
        (D("70"), None, None),  # nobody has a score now
    ],
)
def test_health_decline(
    previous: Decimal | None, current: Decimal | None, expected: Severity | None
) -> None:
    found = health_decline(previous, current, period="2025-04-15", thresholds=T)
    assert (found.severity if found else None) == expected
    if found:
        assert found.value == previous - current  # type: ignore[operator]


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        # peers 80, 90, 100, 110 → mean 95, bound 95 − 10 = 85
        (D("85"), None),  # exactly 10 under: not MORE than 10
        (D("84.99"), Severity.warning),
        (None, None),
    ],
)
def test_lagging_vintage(retention: Decimal | None, expected: Severity | None) -> None:
    peers = [D(80), D(90), D(100), D(110)]
    found = lagging_vintage(retention, peers, vintage="Vintage 2025-Q1", age=3, thresholds=T)
    assert (found.severity if found else None) == expected
    if found:
        assert (found.threshold, found.period) == (D(85), "M3")


def test_lagging_vintage_uses_the_four_most_recent_peers_and_needs_four() -> None:
    # peers 0, 80, 90, 100, 110 → the last four: mean 95, bound 85
    assert (
        lagging_vintage(
            D(86), [D(0), D(80), D(90), D(100), D(110)], vintage="v", age=1, thresholds=T
        )
        is None
    )
    # only three previous vintages: no verdict
    assert lagging_vintage(D(0), [D(90), D(100), D(110)], vintage="v", age=1, thresholds=T) is None


def test_thresholds_are_configurable() -> None:
    strict = Thresholds(low_nrr_warning=D(105), low_nrr_critical=D(95))
    # 100 is fine by default but a warning under 105, and 94 is critical under 95
    assert low_nrr(D(100), period="p", thresholds=T) is None
    found = low_nrr(D(100), period="p", thresholds=strict)
    assert found is not None and found.severity is Severity.warning
    found = low_nrr(D(94), period="p", thresholds=strict)
    assert found is not None and found.severity is Severity.critical
