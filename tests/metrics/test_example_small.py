"""The worked example of SPEC §2 (examples/small) through SPEC §8: one month recomputed
by hand from its CSVs (``tests/metrics/reference.py`` reads the rows themselves: MRR of
each customer on Jun 30 and May 31 2024, each stretch converted at Jun 30's rate)."""

from __future__ import annotations

import csv
import uuid
from datetime import date, timedelta
from decimal import Decimal

from cohortd.engine.metrics import Granularity, metrics_series
from cohortd.engine.money import round_half_away, to_minor_units
from cohortd.engine.movement_model import Movement
from cohortd.warehouse import Scope, Warehouse
from tests.conftest import on_spark_too
from tests.engine.state_rows import Sub
from tests.fixtures.example_small import SMALL, load, small_dataset
from tests.metrics.reference import Rates, reference_period

# every test on DuckDB, PostgreSQL and Spark (the conftest's ``warehouse``)
pytestmark = on_spark_too


def _from_csv() -> tuple[list[str], list[Sub], Rates]:
    with (SMALL / "customers.csv").open() as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    with (SMALL / "subscriptions.csv").open() as handle:
        subs = [
            Sub(
                row["id"],
                row["customer_id"],
                date.fromisoformat(row["start_date"]),
                date.fromisoformat(row["end_date"]) if row["end_date"] else None,
                to_minor_units(Decimal(row["mrr"]), row["currency"]),
                currency=row["currency"],
            )
            for row in csv.DictReader(handle)
        ]
    rates: Rates = {}
    with (SMALL / "fx_rates.csv").open() as handle:
        for row in csv.DictReader(handle):
            rates.setdefault(row["currency"], []).append(
                (date.fromisoformat(row["date"]), Decimal(row["rate"]))
            )
    for points in rates.values():
        points.sort()
    return ids, subs, rates


def test_june_2024_by_hand(warehouse: Warehouse) -> None:
    scope = Scope(org_id=f"org_small_{uuid.uuid4().hex}", livemode=False)
    load(warehouse, scope, small_dataset(with_rates=True))
    (june,) = metrics_series(
        warehouse,
        scope,
        members=None,
        granularity=Granularity.month,
        start=date(2024, 6, 1),
        end=date(2024, 6, 30),
        today=date(2025, 10, 31),
        currency="EUR",
        fix_fx=False,
    ).entries
    ids, subs, rates = _from_csv()
    window = june.moved.window
    ref = reference_period(ids, subs, rates, window, window.start - timedelta(days=1))
    got = june.moved
    cents = round_half_away
    assert cents(got.ending_mrr) == cents(ref["mrr"])
    assert cents(got.starting_mrr) == cents(ref["starting"])
    assert cents(got.fx_impact) == cents(ref["starting"] - ref["fx_base"])
    for movement in ("new", "reactivation", "expansion", "contraction", "churn"):
        assert cents(got.moved(Movement(movement))) == cents(ref[movement]), movement
    assert (got.paying_at_end, got.count(Movement.churn)) == (ref["customers"], ref["churn_n"])
    # sane: a few hundred customers, most of them paying, churn rate a few percent
    body = june.as_json()
    assert 50 <= body["customers"] <= 300 and body["mrr"] > 0
    assert body["customer_churn_rate"] is not None and 0 <= body["customer_churn_rate"] < 20
