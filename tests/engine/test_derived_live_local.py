"""The live derivation's prepared statements (``derived_live._LocalDb``) give the rows the
same SQL gives planned afresh, customer after customer.

The statements are planned once over empty tables and kept while their inputs' rows
change; a plan that used the data it was planned with (statistics, known-empty inputs)
would answer for those rows, not the current ones. Each customer here is run through
one ``_LocalDb`` in turn and compared with the SQL run on a new connection."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from cohortd.engine import derived_live
from cohortd.engine.derived import PER_CUSTOMER_TABLES
from cohortd.warehouse import Scope
from cohortd.warehouse.tables import CUSTOMERS, MRR_SEGMENTS, PAID_SPELLS, SCHEMAS, SUBSCRIPTIONS

SCOPE = Scope("org_local", False)
CURRENCIES = ("USD", "EUR", "JPY", "GBP")


def _customer(rng: random.Random, i: int) -> tuple[pa.Table, pa.Table]:
    """One customer with 0-5 stretches: gaps, touching stretches, MRR 0, pauses, open
    ends, overlaps in two currencies."""
    customer_id = f"cus_{i}"
    customers = pa.Table.from_pylist(
        [
            {
                "org_id": SCOPE.org_id,
                "livemode": False,
                "id": customer_id,
                "created_at": datetime(2020, 1, 1) + timedelta(days=rng.randrange(1500)),
                "currency": rng.choice((*CURRENCIES, None)),
            }
        ],
        schema=SCHEMAS[CUSTOMERS].to_pyarrow(),
    )
    rows: list[dict[str, Any]] = []
    day = date(2020, 1, 1) + timedelta(days=rng.randrange(1500))
    for n in range(rng.randrange(6)):
        start = day + timedelta(days=rng.choice((0, 0, 10, 200, -20)))
        end = start + timedelta(days=rng.randrange(1, 400)) if rng.random() < 0.7 else None
        rows.append(
            {
                "org_id": SCOPE.org_id,
                "livemode": False,
                "id": f"sub_{i}_{n}",
                "customer_id": customer_id,
                "plan_id": rng.choice(("a", "b", None)),
                "currency": rng.choice(CURRENCIES),
                "mrr_minor": rng.choice((0, 990, 4900, 120_000)),
                "start_date": start,
                "end_date": end,
                "status": rng.choice(("active", "paused", "lapsed", None)),
            }
        )
        day = end or start + timedelta(days=30)
    return customers, pa.Table.from_pylist(rows, schema=SCHEMAS[SUBSCRIPTIONS].to_pyarrow())


def _fresh(statement: str, tables: dict[str, pa.Table]) -> list[tuple[Any, ...]]:
    """``statement`` planned afresh over ``tables`` on a new connection, rows sorted."""
    con = duckdb.connect()
    for label, rows in tables.items():
        con.register(f"live_{label}", rows)
    found = con.execute(derived_live._statements()[statement]).to_arrow_table()
    return _sorted(found)


def _sorted(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted((tuple(row.values()) for row in table.to_pylist()), key=repr)


def test_prepared_statements_answer_for_the_rows_loaded_last() -> None:
    rng = random.Random(8)
    local = derived_live._LocalDb()
    try:
        compared = 0
        for i in range(60):
            customers, subscriptions = _customer(rng, i)
            inputs = {"customers": customers, "subscriptions": subscriptions}
            local.load(inputs)
            new = {}
            for name in PER_CUSTOMER_TABLES:
                found = local.run(name)
                assert _sorted(found) == _fresh(name, inputs), (i, name)
                new[name] = derived_live._owned_by(SCOPE, name, found)
            spells = {"segments": new[MRR_SEGMENTS], "spells": new[PAID_SPELLS]}
            local.load(spells)
            deltas = local.run("deltas")
            assert _sorted(deltas) == _fresh("deltas", spells), (i, "deltas")
            compared += deltas.num_rows
        assert compared > 400  # the customers made real rows to compare
    finally:
        local.con.close()
