"""The small reads and deletes of live changes (``Warehouse.rows_matching`` and
``delete_keys``) against an obvious filter in Python, on DuckDB and PostgreSQL.

DuckDB runs several values through its own statements (the rows' ``rowid`` first for a
one-column key, an Arrow view of the keys joined on null-safe equality for several
columns); every backend must answer as the plain filter does: a ``None`` matches a
null, nothing outside the scope is read or deleted, and a key matching no row is
harmless."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from cohortd.engine.cohort_deltas import DELTA_KEYS
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import COHORT_DELTAS, SCHEMAS, SUBSCRIPTIONS


def _delta_rows(scope: Scope, keys: list[tuple[Any, ...]]) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "org_id": [scope.org_id] * len(keys),
        "livemode": [scope.livemode] * len(keys),
    }
    for i, name in enumerate(DELTA_KEYS):
        columns[name] = [key[i] for key in keys]
    for offset, name in enumerate(("n", "v", "m", "t")):
        columns[name] = [i * 10 + offset for i in range(len(keys))]
    return pa.table(columns, schema=SCHEMAS[COHORT_DELTAS].to_pyarrow())


def _random_keys(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    """Distinct keys, some with a null currency or a null paid start."""
    keys: set[tuple[Any, ...]] = set()
    while len(keys) < count:
        currency = rng.choice([None, "USD", "EUR"])
        ps = rng.choice([None, date(2024, 1, 1) + timedelta(days=rng.randrange(3))])
        keys.add((rng.choice([1, 2]), rng.randrange(3), rng.randrange(3), currency, ps, 0))
    return sorted(keys, key=repr)


def _as_keys(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(row[k] for k in DELTA_KEYS) for row in table.to_pylist()),
        key=repr,
    )


@pytest.mark.parametrize("seed", range(4))
def test_several_column_keys_match_as_a_python_filter(
    warehouse: Warehouse, new_scope: Any, seed: int
) -> None:
    rng = random.Random(seed)
    scope, other = new_scope(), new_scope()
    stored = _random_keys(rng, 40)
    warehouse.insert_arrow(COHORT_DELTAS, _delta_rows(scope, stored))
    warehouse.insert_arrow(COHORT_DELTAS, _delta_rows(other, stored))  # same keys, elsewhere
    wanted = [*rng.sample(stored, 12), (2, 9, 9, None, None, 0)]  # and one matching nothing
    rows = [dict(zip(DELTA_KEYS, key, strict=True)) for key in wanted]

    found = warehouse.rows_matching(COHORT_DELTAS, scope, DELTA_KEYS, rows)
    assert found.schema == SCHEMAS[COHORT_DELTAS].to_pyarrow()
    assert set(found.column("org_id").to_pylist()) == {scope.org_id}
    assert _as_keys(found) == sorted(set(wanted) & set(stored), key=repr)

    with warehouse.transaction(scope):
        warehouse.delete_keys(COHORT_DELTAS, scope, DELTA_KEYS, rows)
    every = [dict(zip(DELTA_KEYS, key, strict=True)) for key in stored]
    left = warehouse.rows_matching(COHORT_DELTAS, scope, DELTA_KEYS, every)
    assert _as_keys(left) == sorted(set(stored) - set(wanted), key=repr)
    untouched = warehouse.rows_matching(COHORT_DELTAS, other, DELTA_KEYS, every)
    assert _as_keys(untouched) == stored


def test_one_column_keys_read_only_the_scopes_rows(warehouse: Warehouse, new_scope: Any) -> None:
    """Several customers' rows, through the one-column path, typed as stored."""
    scope, other = new_scope(), new_scope()
    schema = SCHEMAS[SUBSCRIPTIONS].to_pyarrow()

    def rows(owner: Scope, customers: list[str]) -> pa.Table:
        n = len(customers)
        return pa.table(
            {
                "org_id": [owner.org_id] * n,
                "livemode": [owner.livemode] * n,
                "id": [f"sub_{owner.org_id[-6:]}_{i}" for i in range(n)],
                "customer_id": customers,
                "plan_id": ["p"] * n,
                "currency": ["USD"] * n,
                "mrr_minor": [100 * (i + 1) for i in range(n)],
                "start_date": [date(2024, 1, 1)] * n,
                "end_date": [None] * n,
                "status": ["active"] * n,
            },
            schema=schema,
        )

    customers = ["c1", "c2", "c2", "c3", "c4"]
    warehouse.insert_arrow(SUBSCRIPTIONS, rows(scope, customers))
    warehouse.insert_arrow(SUBSCRIPTIONS, rows(other, customers))
    wanted = [{"customer_id": c} for c in ("c2", "c4", "c9")]

    found = warehouse.rows_matching(SUBSCRIPTIONS, scope, ("customer_id",), wanted)
    assert found.schema == schema
    assert sorted(found.column("customer_id").to_pylist()) == ["c2", "c2", "c4"]
    assert set(found.column("org_id").to_pylist()) == {scope.org_id}
    assert sorted(found.column("mrr_minor").to_pylist()) == [200, 300, 500]
