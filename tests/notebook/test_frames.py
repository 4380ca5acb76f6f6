"""Answers' frames and plots from hand-made bodies, the exact-decimal rule, and the
ImportError that names the extra."""

from __future__ import annotations

import sys
from decimal import Decimal

import matplotlib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohortd.notebook import Curve, Metrics, Report, Snapshots
from cohortd.notebook.tables import exact

matplotlib.use("Agg")

CELL = {
    "mrr_retained": 90.5,
    "customers_retained": 1,
    "mrr_retention": 90.5,
    "customer_retention": 50.0,
    "mrr_retention_relative": 90.5,
    "customer_retention_relative": 50.0,
    "mrr_churn": 9.5,
    "customer_churn": 50.0,
    "mrr_churn_relative": 9.5,
    "customer_churn_relative": 50.0,
    "complete": True,
    "mrr_retained_gross": 90.5,
    "mrr_retention_gross": 90.5,
}
FULL = {**CELL, "mrr_retained": 100.0, "mrr_retention": 100.0, "customers_retained": 2}


def _report() -> Report:
    # two cohorts: 2025-01 (2 customers, 100.00 MRR) reached periods 0 and 1; 2025-02 only 0
    return Report(
        {
            "interval": "month",
            "breakdown": None,
            "currency": "USD",
            "result": {
                "list": [
                    {
                        "cohort_group": "2025-01-31",
                        "initial_customers": 2,
                        "initial_mrr": 100.0,
                        "periods": [FULL, CELL],
                    },
                    {
                        "cohort_group": "2025-02-28",
                        "initial_customers": 2,
                        "initial_mrr": 100.0,
                        "periods": [FULL],
                    },
                    {"cohort_group": "average", "periods": [FULL, CELL]},
                ]
            },
        }
    )


def test_tidy_and_wide_forms() -> None:
    report = _report()
    tidy = report.to_pandas()
    # 2 + 1 + 2 cells = 5 rows; the average row has no initial values
    assert len(tidy) == 5
    assert tidy.initial_customers.isna().tolist() == [False, False, False, True, True]
    wide = report.to_pandas(wide=True)
    assert wide.loc["2025-01-31"].tolist() == [100.0, 90.5]
    assert wide.loc["2025-02-28", 0] == 100.0 and wide.loc["2025-02-28"].isna()[1]
    assert report.to_arrow(wide=True).column("1").to_pylist()[0] == Decimal("90.50")
    with pytest.raises(ValueError, match="period field"):
        report.to_pandas(wide=True, value="cohort_group")


def test_plots_draw_what_they_say() -> None:
    axes = _report().plot()
    image = axes.get_images()[0].get_array()
    assert image.shape == (3, 2) and float(image[0, 1]) == 90.5
    curve = Curve(
        {
            "cohort_id": "cohort_1",
            "currency": "USD",
            "periods": [
                {**FULL, "month": 0, "mature_customers": 2, "mature_mrr": 100.0},
                {**CELL, "month": 1, "mature_customers": 2, "mature_mrr": 100.0},
            ],
        }
    )
    lines = curve.plot().get_lines()
    assert [list(line.get_ydata()) for line in lines[:1]] == [[100.0, 90.5]]


SNAPSHOT = {
    "period_start": "2025-01-01",
    "period_end": "2025-03-31",
    "starting_mrr": 100.0,
    "new_mrr": 20.0,
    "reactivation_mrr": 0.0,
    "expansion_mrr": 10.0,
    "contraction_mrr": 5.0,
    "churn_mrr": 15.0,
    "ending_mrr": 110.0,
    "fx_impact": 0.0,
    "starting_arr": 1200.0,
    "ending_arr": 1320.0,
    "churn_count": 1,
    "member_count": 4,
    "nrr": 90.0,
    "grr": 80.0,
    "avg_health_score": None,
    "avg_risk_score": None,
}


def test_movements_stack_gains_up_and_losses_down() -> None:
    axes = Snapshots({"object": "list", "data": [SNAPSHOT]}).plot()
    heights = sorted(round(bar.get_height(), 2) for bar in axes.patches)
    # new 20, reactivation 0, expansion 10 up; contraction 5 and churn 15 down
    assert heights == [-15.0, -5.0, 0.0, 10.0, 20.0]


def test_metrics_answer_frames_the_spec_entry() -> None:
    entry = {
        "date": "2025-01-31",
        "period_start": "2025-01-01",
        "complete": True,
        "mrr": 110.0,
        "arr": 1320.0,
        "customers": 3,
        "arpa": 36.67,
        "starting_mrr": 100.0,
        "new_mrr": 20.0,
        "reactivation_mrr": 0.0,
        "expansion_mrr": 10.0,
        "contraction_mrr": 5.0,
        "churn_mrr": 15.0,
        "net_new_mrr": 10.0,
        "fx_impact": 0.0,
        "new_customers": 1,
        "reactivated_customers": 0,
        "churned_customers": 1,
        "customer_churn_rate": 33.33,
        "mrr_churn_rate": 20.0,
        "net_mrr_churn_rate": 10.0,
        "nrr": 90.0,
        "grr": 80.0,
        "quick_ratio": 1.5,
        "ltv": None,
    }
    metrics = Metrics(
        {"object": "metrics", "interval": "month", "currency": "USD", "entries": [entry]}
    )
    frame = metrics.to_pandas(exact=True)
    assert frame.arpa[0] == Decimal("36.67") and frame.ltv.isna()[0]
    assert len(metrics.plot().patches) == 5


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_exact_reads_a_two_decimal_float_as_its_decimal(value: Decimal) -> None:
    assert exact(float(value)) == value
    assert exact(str(value)) == value


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("polars", "pandas", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, module, None)
    report = _report()
    assert report.to_arrow().num_rows == 5  # Arrow needs no extra
    for convert in (report.to_polars, report.to_pandas, report.plot):
        with pytest.raises(ImportError, match=r"cohortd\[notebook\]"):
            convert()
