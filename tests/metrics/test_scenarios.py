# ruff: noqa: E501  (the population table below is wider than a line)
"""SPEC §8 metrics on a frozen population, every field worked by hand.

Base currency EUR. Today = 2025-04-15. ARS has no ECB rate: the organization's two
observations are its whole history — 10 ARS per EUR from 2025-01-01 (and before it, the
first), 8 from 2025-03-31.

| id | history                                                 | March 2025 (s Feb 28 → e Mar 31, at Mar 31's rate 8) |
|----|---------------------------------------------------------|------------------------------------------------------|
| a  | 100 EUR from 2024-12-01                                 | 100 → 100 flat                                       |
| b  | 100 EUR 2024-12-01 → 2025-03-15                         | 100 → 0 churn 100                                    |
| c  | 30 EUR 2024-11-01 → 2025-01-01, 40 EUR from 2025-03-25  | 0 → 40 reactivation (churned in January)             |
| d  | 1000 ARS 2024-12-01 → 2025-03-10, 1500 ARS from then on | 125 → 187.5 expansion 62.5 (upgrade while ARS moves) |
| e  | 50 EUR 2025-03-05 → 2025-03-20                          | 0 → 0: joined and left inside March, not counted     |
| f  | 70 EUR from 2025-03-05 (first payment)                  | 0 → 70 new                                           |
| g  | 200 EUR from 2024-12-01, 120 EUR from 2025-03-20        | 200 → 120 contraction 80                             |
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cohortd.engine.metrics import Granularity, metrics_series
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import FX_RATES, SCHEMAS
from tests.conftest import on_spark_too
from tests.engine.state_rows import Cust, Sub, load

TODAY = date(2025, 4, 15)

CUSTOMERS = [Cust(c, country="DE") for c in "abcdefg"]
SUBS = [
    Sub("a1", "a", date(2024, 12, 1), None, 100_00, currency="EUR"),
    Sub("b1", "b", date(2024, 12, 1), date(2025, 3, 15), 100_00, currency="EUR"),
    Sub("c1", "c", date(2024, 11, 1), date(2025, 1, 1), 30_00, currency="EUR"),
    Sub("c2", "c", date(2025, 3, 25), None, 40_00, currency="EUR"),
    Sub("d1", "d", date(2024, 12, 1), date(2025, 3, 10), 1000_00, currency="ARS"),
    Sub("d2", "d", date(2025, 3, 10), None, 1500_00, currency="ARS"),
    Sub("e1", "e", date(2025, 3, 5), date(2025, 3, 20), 50_00, currency="EUR"),
    Sub("f1", "f", date(2025, 3, 5), None, 70_00, currency="EUR"),
    Sub("g1", "g", date(2024, 12, 1), date(2025, 3, 20), 200_00, currency="EUR"),
    Sub("g2", "g", date(2025, 3, 20), None, 120_00, currency="EUR"),
]


def add_rates(warehouse: Warehouse, scope: Scope, rates: list[tuple[date, str, Decimal]]) -> None:
    rows = [
        {"org_id": scope.org_id, "livemode": scope.livemode, "date": d, "currency": c, "rate": r}
        for d, c, r in rates
    ]
    schema = SCHEMAS[FX_RATES].to_pyarrow()
    warehouse.insert_arrow(FX_RATES, pa.Table.from_pylist(rows, schema=schema))


# every test on DuckDB, PostgreSQL and Spark (the conftest's ``warehouse``)
pytestmark = on_spark_too


@pytest.fixture(scope="module")
def loaded() -> dict[str, Scope]:
    """The population's scope on each backend: loaded once, read by every test."""
    return {}


@pytest.fixture
def population(warehouse: Warehouse, new_scope, loaded: dict[str, Scope]) -> Scope:  # type: ignore[no-untyped-def]
    if warehouse.name in loaded:
        return loaded[warehouse.name]
    scope = loaded[warehouse.name] = new_scope()
    load(warehouse, scope, CUSTOMERS, SUBS)
    add_rates(
        warehouse,
        scope,
        [(date(2025, 1, 1), "ARS", Decimal(10)), (date(2025, 3, 31), "ARS", Decimal(8))],
    )
    return scope


def entries(
    warehouse: Warehouse,
    scope: Scope,
    granularity: Granularity,
    start: date,
    end: date,
    *,
    fix_fx: bool = False,
) -> list[dict[str, Any]]:
    series = metrics_series(
        warehouse,
        scope,
        members=None,
        granularity=granularity,
        start=start,
        end=end,
        today=TODAY,
        currency="EUR",
        fix_fx=fix_fx,
    )
    return [e.as_json() for e in series.entries]


def test_monthly_every_field(warehouse: Warehouse, population: Scope) -> None:
    feb, mar, apr = entries(warehouse, population, Granularity.month, date(2025, 2, 1), TODAY)
    # February, rate 10: a 100 + b 100 + d 1000/10 + g 200 = 500 on Jan 31 and Feb 28.
    # ltv: churn rates of Sep..Feb: Sep, Oct, Nov nobody paid at s (null, left out);
    # Dec 0 (c alone at s), Jan 20 (c churns of a, b, c, d, g), Feb 0 → mean 20/3;
    # arpa 500 / 4 = 125 → 125 × 100 / (20/3) = 1875.
    assert feb == {
        "date": "2025-02-28",
        "period_start": "2025-02-01",
        "complete": True,
        "mrr": 500.0,
        "arr": 6000.0,
        "customers": 4,
        "arpa": 125.0,
        "starting_mrr": 500.0,
        "new_mrr": 0.0,
        "reactivation_mrr": 0.0,
        "expansion_mrr": 0.0,
        "contraction_mrr": 0.0,
        "churn_mrr": 0.0,
        "net_new_mrr": 0.0,
        "fx_impact": 0.0,
        "new_customers": 0,
        "reactivated_customers": 0,
        "churned_customers": 0,
        "customer_churn_rate": 0.0,
        "mrr_churn_rate": 0.0,
        "net_mrr_churn_rate": 0.0,
        "nrr": 100.0,
        "grr": 100.0,
        "quick_ratio": None,  # nothing lost: zero denominator
        "ltv": 1875.0,
    }
    # March at Mar 31's rate (8): s = a 100 + b 100 + d 1000/8 = 125 + g 200 = 525;
    # e = a 100 + c 40 + d 1500/8 = 187.5 + f 70 + g 120 = 517.5 (e joined and left).
    # fx_impact = d's s at 8 − at 10 = 125 − 100 = 25.
    # net new = 70 + 40 + 62.5 − 80 − 100 = −7.5; 500 + 25 − 7.5 = 517.5.
    # customers a c d f g = 5, arpa 103.5; paying at s: a b d g = 4, one churned: 25 %.
    # mrr churn 100 × 180 / 525 = 34.2857; net 100 × (180 − 62.5 − 40) / 525 = 14.7619;
    # nrr 100 × (525 + 62.5 − 180) / 525 = 77.6190; grr 100 × 345 / 525 = 65.7142;
    # quick (70 + 40 + 62.5) / 180 = 0.9583; ltv: Oct..Mar rates 0, 20, 0, 25 (Oct and
    # Nov null) → mean 11.25 → 103.5 × 100 / 11.25 = 920.
    assert mar == {
        "date": "2025-03-31",
        "period_start": "2025-03-01",
        "complete": True,
        "mrr": 517.5,
        "arr": 6210.0,
        "customers": 5,
        "arpa": 103.5,
        "starting_mrr": 525.0,
        "new_mrr": 70.0,
        "reactivation_mrr": 40.0,
        "expansion_mrr": 62.5,
        "contraction_mrr": 80.0,
        "churn_mrr": 100.0,
        "net_new_mrr": -7.5,
        "fx_impact": 25.0,
        "new_customers": 1,
        "reactivated_customers": 1,
        "churned_customers": 1,
        "customer_churn_rate": 25.0,
        "mrr_churn_rate": 34.29,
        "net_mrr_churn_rate": 14.76,
        "nrr": 77.62,
        "grr": 65.71,
        "quick_ratio": 0.96,
        "ltv": 920.0,
    }
    # April, the current period, measured on today: nothing moves; rate 8 on both days.
    # ltv: Nov..Apr, April incomplete and left out: 0, 20, 0, 25 → 920 again.
    assert apr["date"] == "2025-04-15" and apr["complete"] is False
    assert (apr["mrr"], apr["starting_mrr"], apr["fx_impact"], apr["customers"]) == (
        517.5,
        517.5,
        0.0,
        5,
    )
    assert (apr["customer_churn_rate"], apr["nrr"], apr["ltv"]) == (0.0, 100.0, 920.0)


def test_fix_fx_uses_the_first_period_start_rate(warehouse: Warehouse, population: Scope) -> None:
    feb, mar, _ = entries(
        warehouse, population, Granularity.month, date(2025, 2, 1), TODAY, fix_fx=True
    )
    # every amount at Feb 1's rate (10): March d 100 → 150 expansion 50; fx_impact 0;
    # starting 500, mrr = 100 + 40 + 150 + 70 + 120 = 480 = 500 + 70 + 40 + 50 − 80 − 100.
    assert feb["mrr"] == 500.0
    assert (mar["starting_mrr"], mar["mrr"], mar["expansion_mrr"], mar["fx_impact"]) == (
        500.0,
        480.0,
        50.0,
        0.0,
    )
    assert mar["net_new_mrr"] == -20.0


def test_zero_customer_periods(warehouse: Warehouse, population: Scope) -> None:
    (sep,) = entries(warehouse, population, Granularity.month, date(2024, 9, 1), date(2024, 9, 30))
    # nobody pays before November 2024: zeros, and every ratio null, never an error
    assert (sep["mrr"], sep["customers"], sep["starting_mrr"], sep["churned_customers"]) == (
        0.0,
        0,
        0.0,
        0,
    )
    for name in (
        "arpa",
        "customer_churn_rate",
        "mrr_churn_rate",
        "net_mrr_churn_rate",
        "nrr",
        "grr",
        "quick_ratio",
        "ltv",
    ):
        assert sep[name] is None, name


def test_weekly_across_the_year_end(warehouse: Warehouse, population: Scope) -> None:
    last_2024, first_2025 = entries(
        warehouse, population, Granularity.week, date(2024, 12, 23), date(2025, 1, 5)
    )
    # ISO week 52 of 2024 (Mon Dec 23 – Sun Dec 29): a 100 + b 100 + c 30 + d 100 + g 200
    assert (last_2024["period_start"], last_2024["date"]) == ("2024-12-23", "2024-12-29")
    assert (last_2024["mrr"], last_2024["customers"]) == (530.0, 5)
    # ISO week 1 of 2025 starts Mon Dec 30: c's row ends Jan 1 → churn 30, 1 of 5 = 20 %
    assert (first_2025["period_start"], first_2025["date"]) == ("2024-12-30", "2025-01-05")
    assert (first_2025["mrr"], first_2025["churn_mrr"], first_2025["churned_customers"]) == (
        500.0,
        30.0,
        1,
    )
    assert first_2025["customer_churn_rate"] == 20.0


def test_daily(warehouse: Warehouse, population: Scope) -> None:
    mar9, mar10 = entries(
        warehouse, population, Granularity.day, date(2025, 3, 9), date(2025, 3, 10)
    )
    # Mar 9: a 100 + b 100 + d 1000/10 + e 50 + f 70 + g 200 = 620, six paying
    assert (mar9["period_start"], mar9["date"], mar9["mrr"], mar9["customers"]) == (
        "2025-03-09",
        "2025-03-09",
        620.0,
        6,
    )
    # Mar 10: d's upgrade 100 → 150 at Mar 10's rate (10): expansion 50, mrr 670
    assert (mar10["starting_mrr"], mar10["expansion_mrr"], mar10["mrr"]) == (620.0, 50.0, 670.0)
    assert mar10["complete"] is True
