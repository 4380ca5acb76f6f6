"""Snapshots against a brute-force reference on random histories (seeded, small).

The reference walks every member day by day in plain Python (EUR only, so no rates) and
classifies each (member, month) by SPEC §4's table; the engine must agree to the cent on
every field, and the identities ending = starting + new + reactivation + expansion −
contraction − churn and NRR ≥ GRR must hold.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest
from tests.conftest import per_backend
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine.periods import Interval, first_day, last_day, period_of
from cohortd.engine.snapshots import Movement, SnapshotQuery, snapshot_series
from cohortd.warehouse import Warehouse

TODAY = date(2025, 6, 20)
FIRST, LAST = period_of(date(2024, 7, 1), Interval.month), period_of(TODAY, Interval.month)


def _history(seed: int) -> tuple[list[Cust], list[Sub]]:
    rng = random.Random(seed)
    customers, subs = [], []
    for c in range(25):
        customers.append(Cust(f"c{c}", datetime(2024, 1, 1)))
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 500))
        for k in range(rng.randrange(1, 4)):
            length = rng.choice([None, rng.randrange(10, 200)])
            end = None if length is None else day + timedelta(days=length)
            subs.append(
                Sub(
                    f"s{c}_{k}", f"c{c}", day, end, rng.choice([0, 500, 1000, 1999]), currency="EUR"
                )
            )
            if end is None:
                break
            day = end + timedelta(days=rng.choice([0, 0, 15, 60]))
    return customers, subs


def _mrr(subs: list[Sub], customer: str, day: date) -> int:
    return sum(
        s.mrr_minor
        for s in subs
        if s.customer_id == customer and s.start <= day and (s.end is None or day < s.end)
    )


def _reference(customers: list[Cust], subs: list[Sub]) -> list[dict[str, object]]:
    rows = []
    for p in range(FIRST, LAST + 1):
        start_day, end_day = (
            last_day(p - 1, Interval.month),
            min(last_day(p, Interval.month), TODAY),
        )
        totals = {m: 0 for m in Movement} | {"starting": 0, "ending": 0, "churned": 0}
        for c in customers:
            s, e = _mrr(subs, c.id, start_day), _mrr(subs, c.id, end_day)
            paid = min(
                (x.start for x in subs if x.customer_id == c.id and x.mrr_minor > 0), default=None
            )
            totals["starting"] += s
            totals["ending"] += e
            if s > 0 and e == 0:
                totals[Movement.churn] += s
                totals["churned"] += 1
            elif s == 0 and e > 0:
                inside = paid is not None and first_day(p, Interval.month) <= paid <= last_day(
                    p, Interval.month
                )
                totals[Movement.new if inside else Movement.reactivation] += e
            elif e > s:
                totals[Movement.expansion] += e - s
            elif s > e:
                totals[Movement.contraction] += s - e
        rows.append(totals)
    return rows


# Spark: the first history (a local Spark statement costs about a second)
@pytest.mark.parametrize(
    ("warehouse", "seed"),
    per_backend({"duckdb": [1, 2, 3], "postgres": [1, 2, 3], "spark": [1]}),
    indirect=["warehouse"],
)
def test_engine_matches_brute_force(warehouse: Warehouse, new_scope, seed: int) -> None:  # type: ignore[no-untyped-def]
    scope = new_scope()
    customers, subs = _history(seed)
    load(warehouse, scope, customers, subs)
    members = ibis.memtable(pa.table({"customer_id": [c.id for c in customers]}))
    query = SnapshotQuery(Interval.month, FIRST, LAST, TODAY, "EUR")
    found = snapshot_series(warehouse, scope, members, query)
    cent = Decimal("0.01")
    for snap, expected in zip(found, _reference(customers, subs), strict=True):
        assert snap.starting_mrr == expected["starting"] * cent
        assert snap.ending_mrr == expected["ending"] * cent
        for movement in Movement:
            if movement is not Movement.flat:
                assert snap.moved(movement) == expected[movement] * cent, (
                    snap.period_start,
                    movement,
                )
        assert snap.churn_count == expected["churned"]
        assert snap.fx_impact == 0
        moved = (
            snap.moved(Movement.new) + snap.moved(Movement.reactivation)
            + snap.moved(Movement.expansion) - snap.moved(Movement.contraction)
            - snap.moved(Movement.churn)
        )  # fmt: skip
        assert snap.ending_mrr == snap.starting_mrr + moved
        if snap.nrr is not None:
            assert snap.grr is not None and snap.nrr >= snap.grr and snap.grr <= 100
