# ruff: noqa: E501  (the population table below is wider than a line)
"""SPEC §4 vintage curve: months since each member's cohort month, pooled like a §2
breakdown row, with ``mature_customers`` and the gross (GRR) fields.

Today = 2025-04-15, base EUR. Members (MRR in EUR):

| id | history                                   | cohort | month 0 | month 1 | month 2 | month 3 |
|----|-------------------------------------------|--------|---------|---------|---------|---------|
| p  | 100 from 2025-01-10                       | Jan    | 100     | 100     | 100     | 100 (Apr 15) |
| q  | 200 from 2025-01-20 to 2025-03-01         | Jan    | 200     | 200     | 0       | 0       |
| r  | 50 from 2025-02-05, 80 from 2025-03-10    | Feb    | 50      | 80      | 80 (Apr 15) | -   |
| z  | trial only (never paid): not in the curve |        |         |         |         |         |
"""

from __future__ import annotations

from datetime import date, datetime

import ibis
import pyarrow as pa
from tests.conftest import on_spark_too
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine.curves import vintage_curve
from cohortd.warehouse import Warehouse

# every test on DuckDB, PostgreSQL and Spark (the conftest's ``warehouse``)
pytestmark = on_spark_too


TODAY = date(2025, 4, 15)


def test_vintage_curve_pools_monthly_sub_cohorts(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    scope = new_scope()
    load(
        warehouse,
        scope,
        [Cust(c, datetime(2025, 1, 1)) for c in "pqrz"],
        [
            Sub("p1", "p", date(2025, 1, 10), None, 100_00, currency="EUR"),
            Sub("q1", "q", date(2025, 1, 20), date(2025, 3, 1), 200_00, currency="EUR"),
            Sub("r1", "r", date(2025, 2, 5), date(2025, 3, 10), 50_00, currency="EUR"),
            Sub("r2", "r", date(2025, 3, 10), None, 80_00, currency="EUR"),
            Sub("z1", "z", date(2025, 1, 5), None, 0, currency="EUR", status="trialing"),
        ],
    )
    members = ibis.memtable(pa.table({"customer_id": list("pqrz")}))
    curve = vintage_curve(warehouse, scope, members, today=TODAY, base_currency="EUR").as_json()
    # initial: Jan cohort p + q = 300 (2 customers), Feb cohort r = 50 → 3 customers, 350.
    assert (curve["initial_customers"], curve["initial_mrr"]) == (3, 350.0)
    m0, m1, m2, m3 = curve["periods"]
    # Month 0: both cohorts; 350 of 350 → 100 %; gross the same.
    assert (m0["month"], m0["mature_customers"], m0["mrr_retained"]) == (0, 3, 350.0)
    assert (m0["mrr_retention"], m0["mrr_retention_gross"], m0["complete"]) == (100.0, 100.0, True)
    # Month 1: Jan at Feb 28 (100 + 200) + Feb at Mar 31 (80) = 380 → 100×380/350 = 108.57;
    # gross caps r at its initial 50: 350 → 100.
    assert (m1["mature_customers"], m1["mrr_retained"], m1["mrr_retention"]) == (3, 380.0, 108.57)
    assert (m1["mrr_retained_gross"], m1["mrr_retention_gross"]) == (350.0, 100.0)
    assert m1["mrr_churn"] == -8.57  # expansion: a negative churn is right (SPEC §2)
    # Month 2: Jan at Mar 31 (p 100, q 0) + Feb at Apr 15 (80) = 180 → 51.43 %;
    # customers 2 of 3 → 66.67; relative 180 / 380 → 47.37; gross 100 + 50 = 150 → 42.86;
    # Feb's month 2 is April, still running → not complete.
    assert (m2["mrr_retained"], m2["mrr_retention"], m2["customer_retention"]) == (
        180.0,
        51.43,
        66.67,
    )
    assert (m2["mrr_retention_relative"], m2["mrr_retention_gross"]) == (47.37, 42.86)
    assert (m2["mrr_churn"], m2["complete"]) == (48.57, False)
    # Month 3: only the Jan cohort is old enough: mature 2 customers, 300 initial;
    # p 100 → 33.33 %, customers 1 of 2 → 50 %, relative 100 / 100 → 100.
    assert (m3["mature_customers"], m3["mature_mrr"], m3["mrr_retention"]) == (2, 300.0, 33.33)
    assert (m3["customer_retention"], m3["mrr_retention_relative"]) == (50.0, 100.0)


def test_months_bounds_the_curve(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    # p paid from 2024-01-10; as of 2025-04-15 it has months 0..15; months=2 keeps 0..2.
    scope = new_scope()
    load(
        warehouse,
        scope,
        [Cust("p", datetime(2024, 1, 1))],
        [Sub("p1", "p", date(2024, 1, 10), None, 100_00, currency="EUR")],
    )
    members = ibis.memtable(pa.table({"customer_id": ["p"]}))
    full = vintage_curve(warehouse, scope, members, today=TODAY, base_currency="EUR")
    short = vintage_curve(warehouse, scope, members, today=TODAY, base_currency="EUR", months=2)
    assert len(full.points) == 16 and len(short.points) == 3
    assert [p["mrr_retention"] for p in short.as_json()["periods"]] == [100.0, 100.0, 100.0]


def test_empty_member_set_gives_an_empty_curve(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    scope = new_scope()
    members = ibis.memtable(pa.table({"customer_id": pa.array([], pa.string())}))
    curve = vintage_curve(warehouse, scope, members, today=TODAY, base_currency="EUR").as_json()
    assert (curve["initial_customers"], curve["initial_mrr"], curve["periods"]) == (0, 0.0, [])
