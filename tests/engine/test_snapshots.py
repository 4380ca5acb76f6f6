# ruff: noqa: E501  (the population table below is wider than a line)
"""SPEC §4 snapshots: every movement, NRR/GRR, FX-neutral movements and fx_impact.

Base currency EUR (rate 1). Today = 2025-04-15. Members (all signed up 2024-06-01 except
``e``, signed up 2025-03-01), MRR stretches in EUR unless said:

| id | history                                                   | March 2025 (s Feb 28 → e Mar 31) |
|----|-----------------------------------------------------------|-----------------------------------|
| a  | 100 from 2024-12-01                                       | 100 → 100 flat                    |
| b  | 100 from 2024-12-01, 150 from 2025-03-10                  | 100 → 150 expansion 50            |
| c  | 200 from 2024-12-01, 120 from 2025-03-20                  | 200 → 120 contraction 80          |
| d  | 50 from 2024-12-01 to 2025-03-15                          | 50 → 0 churn 50                   |
| e  | 70 from 2025-03-05 (first payment)                        | 0 → 70 new 70                     |
| f  | 30 from 2024-11-01 to 2025-01-01, 40 from 2025-03-25      | 0 → 40 reactivation 40            |
| g  | 1000.00 ARS from 2024-12-01; ARS per EUR: 10 until 2025-03-30, 8 from 2025-03-31 | at Mar 31's rate: 125 → 125 flat |

ARS has no ECB rate, so the organization's two observations are its whole history.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest
from tests.conftest import ENGINE_BACKENDS
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import Movement, SnapshotQuery, snapshot_series
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import FX_RATES, SCHEMAS


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """DuckDB, PostgreSQL and Spark."""
    return request.getfixturevalue(f"{request.param}_warehouse")


TODAY = date(2025, 4, 15)
SIGNUP = datetime(2024, 6, 1)

CUSTOMERS = [Cust(c, SIGNUP) for c in "abcdfg"] + [Cust("e", datetime(2025, 3, 1, 10))]
SUBS = [
    Sub("a1", "a", date(2024, 12, 1), None, 100_00, currency="EUR"),
    Sub("b1", "b", date(2024, 12, 1), date(2025, 3, 10), 100_00, currency="EUR"),
    Sub("b2", "b", date(2025, 3, 10), None, 150_00, currency="EUR"),
    Sub("c1", "c", date(2024, 12, 1), date(2025, 3, 20), 200_00, currency="EUR"),
    Sub("c2", "c", date(2025, 3, 20), None, 120_00, currency="EUR"),
    Sub("d1", "d", date(2024, 12, 1), date(2025, 3, 15), 50_00, currency="EUR"),
    Sub("e1", "e", date(2025, 3, 5), None, 70_00, currency="EUR"),
    Sub("f1", "f", date(2024, 11, 1), date(2025, 1, 1), 30_00, currency="EUR"),
    Sub("f2", "f", date(2025, 3, 25), None, 40_00, currency="EUR"),
    Sub("g1", "g", date(2024, 12, 1), None, 1000_00, currency="ARS"),
]


def _rates(warehouse: Warehouse, scope: Scope) -> None:
    rows = [
        {
            "org_id": scope.org_id,
            "livemode": scope.livemode,
            "date": date(2025, 1, 1),
            "currency": "ARS",
            "rate": Decimal(10),
        },
        {
            "org_id": scope.org_id,
            "livemode": scope.livemode,
            "date": date(2025, 3, 31),
            "currency": "ARS",
            "rate": Decimal(8),
        },
    ]
    schema = SCHEMAS[FX_RATES].to_pyarrow()
    warehouse.insert_arrow(FX_RATES, pa.Table.from_pylist(rows, schema=schema))


def _members(ids: str) -> ibis.Table:
    return ibis.memtable(pa.table({"customer_id": pa.array(list(ids), pa.string())}))


def _series(
    warehouse: Warehouse, scope: Scope, ids: str, interval: Interval, first: date, last: date
) -> list[dict[str, object]]:
    query = SnapshotQuery(
        interval=interval,
        first_period=period_of(first, interval),
        last_period=period_of(last, interval),
        today=TODAY,
        base_currency="EUR",
    )
    return [s.as_json() for s in snapshot_series(warehouse, scope, _members(ids), query)]


@pytest.fixture
def population(warehouse: Warehouse, new_scope) -> Scope:  # type: ignore[no-untyped-def]
    scope = new_scope()
    load(warehouse, scope, CUSTOMERS, SUBS)
    _rates(warehouse, scope)
    return scope


def test_monthly_movements_and_rates(warehouse: Warehouse, population: Scope) -> None:
    feb, mar, apr = _series(
        warehouse, population, "abcdefg", Interval.month, date(2025, 2, 1), date(2025, 4, 1)
    )
    # February: everyone flat; g = 1000 ARS / 10 = 100 on both days, rate unchanged.
    # starting = a 100 + b 100 + c 200 + d 50 + g 100 = 550 = ending.
    assert feb == {
        "period_start": "2025-02-01",
        "period_end": "2025-02-28",
        "starting_mrr": 550.0,
        "new_mrr": 0.0,
        "reactivation_mrr": 0.0,
        "expansion_mrr": 0.0,
        "contraction_mrr": 0.0,
        "churn_mrr": 0.0,
        "ending_mrr": 550.0,
        "fx_impact": 0.0,
        "starting_arr": 6600.0,
        "ending_arr": 6600.0,
        "churn_count": 0,
        "member_count": 6,  # e signed up on 2025-03-01
        "nrr": 100.0,
        "grr": 100.0,
        "avg_health_score": None,
        "avg_risk_score": None,
    }
    # March, everything at Mar 31's rate (ARS 8 → g = 125 on both days, so flat):
    # starting = 100 + 100 + 200 + 50 + 125 = 575; ending = 100+150+120+0+70+40+125 = 605
    # = 575 + new 70 + reactivation 40 + expansion 50 − contraction 80 − churn 50.
    # fx_impact = Σ s at Mar's rate − Σ s at Feb's = 575 − 550 = 25 (only g moved), so
    # ending(Feb) 550 + 25 = starting(Mar) 575.
    # NRR = 100 × (575 + 50 − 80 − 50) / 575 = 86.0869… → 86.09
    # GRR = 100 × (575 − 80 − 50) / 575 = 77.3913… → 77.39
    assert mar == {
        "period_start": "2025-03-01",
        "period_end": "2025-03-31",
        "starting_mrr": 575.0,
        "new_mrr": 70.0,
        "reactivation_mrr": 40.0,
        "expansion_mrr": 50.0,
        "contraction_mrr": 80.0,
        "churn_mrr": 50.0,
        "ending_mrr": 605.0,
        "fx_impact": 25.0,
        "starting_arr": 6900.0,
        "ending_arr": 7260.0,
        "churn_count": 1,
        "member_count": 7,
        "nrr": 86.09,
        "grr": 77.39,
        "avg_health_score": None,
        "avg_risk_score": None,
    }
    # April is current: e is measured today (Apr 15); nothing moved, ARS still 8.
    assert (apr["starting_mrr"], apr["ending_mrr"], apr["fx_impact"]) == (605.0, 605.0, 0.0)
    assert (apr["nrr"], apr["grr"], apr["period_end"]) == (100.0, 100.0, "2025-04-30")


def test_quarterly_reactivation_becomes_expansion(warehouse: Warehouse, population: Scope) -> None:
    # Q1 2025: s on 2024-12-31, e on 2025-03-31, both at Mar 31's rate.
    # f paid 30 on Dec 31 and 40 on Mar 31 → expansion 10 (not a reactivation here).
    # starting = 100 + 100 + 200 + 50 + 30 + 125 = 605; ending = 605 (as above).
    # expansion = 50 + 10 = 60; fx_impact = 125 − 100 (g at Dec 31's rate 10) = 25.
    # NRR = 100 × (605 + 60 − 80 − 50) / 605 = 88.4297… → 88.43
    # GRR = 100 × (605 − 80 − 50) / 605 = 78.5123… → 78.51
    (q1,) = _series(
        warehouse, population, "abcdefg", Interval.quarter, date(2025, 1, 1), date(2025, 3, 1)
    )
    assert (q1["period_start"], q1["period_end"]) == ("2025-01-01", "2025-03-31")
    assert q1["starting_mrr"] == 605.0 and q1["ending_mrr"] == 605.0
    assert (q1["new_mrr"], q1["reactivation_mrr"]) == (70.0, 0.0)
    assert (q1["expansion_mrr"], q1["contraction_mrr"], q1["churn_mrr"]) == (60.0, 80.0, 50.0)
    assert (q1["fx_impact"], q1["nrr"], q1["grr"]) == (25.0, 88.43, 78.51)


def test_currency_move_alone_is_fx_impact_not_expansion(
    warehouse: Warehouse, population: Scope
) -> None:
    # g alone in March: 1000 ARS both days. At Mar 31's rate 125 → 125: no movement at all;
    # the 100 → 125 change of its EUR value is the rate's: fx_impact 25, NRR 100.
    (mar,) = _series(warehouse, population, "g", Interval.month, date(2025, 3, 1), date(2025, 3, 1))
    assert mar["expansion_mrr"] == 0.0 and mar["contraction_mrr"] == 0.0
    assert (mar["starting_mrr"], mar["ending_mrr"], mar["fx_impact"]) == (125.0, 125.0, 25.0)
    assert (mar["nrr"], mar["grr"]) == (100.0, 100.0)


def test_expansion_only_caps_grr_at_100(warehouse: Warehouse, population: Scope) -> None:
    # b alone in March: 100 → 150. NRR = 100 × (100 + 50) / 100 = 150; GRR = 100 (capped:
    # expansion never lifts gross retention).
    (mar,) = _series(warehouse, population, "b", Interval.month, date(2025, 3, 1), date(2025, 3, 1))
    assert (mar["nrr"], mar["grr"], mar["expansion_mrr"]) == (150.0, 100.0, 50.0)


def test_starting_zero_gives_null_rates(warehouse: Warehouse, population: Scope) -> None:
    # e and f alone in March: nobody paid on Feb 28 → starting 0, NRR and GRR null;
    # new 70 (e first paid Mar 5) and reactivation 40 (f paid before, in 2024).
    (mar,) = _series(
        warehouse, population, "ef", Interval.month, date(2025, 3, 1), date(2025, 3, 1)
    )
    assert (mar["starting_mrr"], mar["nrr"], mar["grr"]) == (0.0, None, None)
    assert (mar["new_mrr"], mar["reactivation_mrr"], mar["ending_mrr"]) == (70.0, 40.0, 110.0)


def test_churn_then_return_counts_each_movement(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    # x: a 10.00 EUR stretch Jan 1–Feb 10, back at 20 from Apr 5.
    # Feb: 10 → 0 churn (count 1). Mar: 0 → 0, nothing. Apr (current, e on Apr 15):
    # 0 → 20 reactivation (first paid in January).
    scope = new_scope()
    load(
        warehouse,
        scope,
        [Cust("x", SIGNUP)],
        [
            Sub("x1", "x", date(2025, 1, 1), date(2025, 2, 10), 10_00, currency="EUR"),
            Sub("x2", "x", date(2025, 4, 5), None, 20_00, currency="EUR"),
        ],
    )
    feb, mar, apr = _series(
        warehouse, scope, "x", Interval.month, date(2025, 2, 1), date(2025, 4, 1)
    )
    assert (feb["churn_mrr"], feb["churn_count"], feb["nrr"], feb["grr"]) == (10.0, 1, 0.0, 0.0)
    assert (mar["starting_mrr"], mar["ending_mrr"], mar["churn_count"]) == (0.0, 0.0, 0)
    assert (apr["reactivation_mrr"], apr["new_mrr"], apr["ending_mrr"]) == (20.0, 0.0, 20.0)


def test_movement_names() -> None:
    assert [m.value for m in Movement] == [
        "new",
        "reactivation",
        "expansion",
        "contraction",
        "churn",
        "flat",
    ]
