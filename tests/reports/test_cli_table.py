"""``cohortd report --format table``: the triangle fits the terminal it is drawn in."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from cohortd.cli.report import Metric, triangle


def _body(cohorts: int) -> dict[str, Any]:
    def period(k: int) -> dict[str, Any]:
        return {"mrr_retention": 100.0 - k, "customer_retention": 90.0 - k}

    rows = [
        {
            "cohort_group": f"2020-{i + 1:02d}-28",
            "initial_customers": 1000 + i,
            "initial_mrr": 123456.78,
            "periods": [period(k) for k in range(cohorts - i)],
        }
        for i in range(cohorts)
    ]
    rows.append({"cohort_group": "average", "periods": [period(k) for k in range(cohorts)]})
    return {"interval": "month", "currency": "USD", "result": {"list": rows}}


def _drawn(table: Any, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines()


def test_the_periods_that_fit_are_drawn_and_the_rest_named() -> None:
    lines = _drawn(triangle(_body(12), Metric.mrr, width=80), 80)
    assert max(map(len, lines)) <= 80
    header = next(line for line in lines if "cohort" in line)
    # 36 characters for cohort, customers and MRR; 8 per period column: 0-4 fit
    assert [c.strip() for c in header.split("┃")[4:-1]] == ["0", "1", "2", "3", "4"]
    assert "99.0" in lines[4] and "2020-01-28" in lines[4]  # a cell, not a squeezed column
    assert "periods 0-4 of 0-11" in " ".join(lines)


def test_a_wide_terminal_or_no_width_draws_every_period() -> None:
    for width in (None, 200):
        lines = _drawn(triangle(_body(12), Metric.customers, width=width), 200)
        header = next(line for line in lines if "cohort" in line)
        assert header.split("┃")[-2].strip() == "11"
        assert not any("periods 0-" in line for line in lines)
