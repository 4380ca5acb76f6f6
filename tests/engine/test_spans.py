"""The difference-array forms of the report (``engine.triangle``) on the edges they rely on:
touching and overlapping rows merge into one paid spell, a row running on ``date`` joins
its past range to the current period, and the same-factor gross is ``min(MRR, initial)``
per constant segment. Both backends (``warehouse`` fixture); amounts in USD."""

from __future__ import annotations

from datetime import date as d

from tests.conftest import on_spark_too
from tests.fixtures.example_small import Customer, Dataset, Stretch, load
from tests.reports.helpers import period, run

from cohortd.warehouse import Warehouse

# every test on DuckDB, PostgreSQL and Spark (the conftest's ``warehouse``)
pytestmark = on_spark_too


def S(cid: str, mrr: str, start: d, end: d | None = None, currency: str = "USD") -> Stretch:
    return Stretch(customer_id=cid, currency=currency, mrr=mrr, start=start, end=end)


DATA = Dataset(
    customers=[Customer(id="a"), Customer(id="b")],
    stretches=[
        # a: 100 from Jan 10, 30 more from Feb 1 (overlap), the 100 ends Mar 1 and a
        # touching row (start = that end) carries 100 on: one spell, never a gap
        S("a", "100", d(2024, 1, 10), d(2024, 3, 1)),
        S("a", "30", d(2024, 2, 1), d(2024, 4, 1)),
        S("a", "100", d(2024, 3, 1)),
        # b: 50 from Jan 20 to Feb 15, back with 80 from Mar 20 (a gap covering Feb 29)
        S("b", "50", d(2024, 1, 20), d(2024, 2, 15)),
        S("b", "80", d(2024, 3, 20)),
    ],
)


def test_spells_segments_and_the_current_period(warehouse: Warehouse, new_scope) -> None:
    scope = new_scope()
    load(warehouse, scope, DATA)
    body = run(warehouse, scope, "?interval=month&date=2024-04-15")
    # January cohort, initial: a 100 + b 50 = 150, 2 customers.
    # k=0 (Jan 31): a 100, b 50 -> 2 customers, 150; gross min(100,100)+min(50,50) = 150
    jan = period(body, "2024-01-31", 0)
    assert (jan["customers_retained"], jan["mrr_retained"], jan["mrr_retained_gross"]) == (
        2,
        150.0,
        150.0,
    )
    # k=1 (Feb 29): a 100+30 = 130 (capped at 100), b gone -> 1 customer, 130, gross 100
    feb = period(body, "2024-01-31", 1)
    assert (feb["customers_retained"], feb["mrr_retained"], feb["mrr_retained_gross"]) == (
        1,
        130.0,
        100.0,
    )
    # k=2 (Mar 31): a 30 + 100 (touching row) = 130 -> gross 100; b back with 80 (> 50,
    # capped at 50): 2 customers, 210, gross 150
    mar = period(body, "2024-01-31", 2)
    assert (mar["customers_retained"], mar["mrr_retained"], mar["mrr_retained_gross"]) == (
        2,
        210.0,
        150.0,
    )
    # k=3, the current period, measured on Apr 15: a 100 (the 30 ended Apr 1), b 80
    # -> 2 customers, 180, gross 100 + 50 = 150; not complete
    apr = period(body, "2024-01-31", 3)
    assert (apr["customers_retained"], apr["mrr_retained"], apr["mrr_retained_gross"]) == (
        2,
        180.0,
        150.0,
    )
    assert apr["complete"] is False
