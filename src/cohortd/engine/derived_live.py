"""The derived rows of a few customers, brought up to date inside the writer's transaction.

A live change (``cohortd.subscriptions``) touches one customer. ``refresh_customers``
rewrites that customer's rows of the per-customer tables (facts, spells, segments) from
the canonical tables, and adjusts ``cohort_deltas`` key by key: the customer's own
changes before the write are taken off, the ones after it added, and only the keys
that moved are read and rewritten. Nothing it does reads or writes the rest of the
organization's derived rows beyond those keys, so the cost of one change does not grow
with the organization (the canonical tables are read through a filter on the
customer's id, a scan of one column on DuckDB).

The result is the same, row for row, as ``derived.refresh`` of the whole scope (a
property test compares them); ``derived.refresh(customer_ids=...)``, which the import's
catch-up uses, rewrites every ``cohort_deltas`` row of the scope instead, which is
cheaper for many customers at once and far dearer for one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from functools import cache
from typing import Any, Final

import duckdb
import ibis
import pyarrow as pa

from cohortd.engine.derived import (
    DELTA_KEYS,
    DELTA_VALUES,
    PER_CUSTOMER_TABLES,
    delta_rows,
    per_customer_rows,
    summed_deltas,
)
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import (
    COHORT_DELTAS,
    CUSTOMERS,
    MRR_SEGMENTS,
    PAID_SPELLS,
    SCHEMAS,
    SUBSCRIPTIONS,
)

DeltaKey = tuple[int, int, int, str | None, date | None, int]
DeltaValues = tuple[int, int, int, int]


def refresh_customers(warehouse: Warehouse, scope: Scope, customer_ids: Sequence[str]) -> None:
    """Recompute the derived rows of ``customer_ids`` (a few) from the canonical tables.

    Call it inside the transaction that changed their canonical rows (it opens none).
    The customers' canonical and derived rows are read (a few rows, through filters on
    their ids) and the derivation itself runs on them in an in-process DuckDB: the same
    Ibis expressions as ``derived.refresh``, none of it in the warehouse, so its cost
    is the customers' own, on every backend."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    with warehouse._lock:
        stored = {
            "customers": _read(warehouse, scope, CUSTOMERS, "id", ids),
            "subscriptions": _read(warehouse, scope, SUBSCRIPTIONS, "customer_id", ids),
            "segments": _read(warehouse, scope, MRR_SEGMENTS, "customer_id", ids),
            "spells": _read(warehouse, scope, PAID_SPELLS, "customer_id", ids),
        }
        new = {
            name: _owned_by(scope, name, _run_local(name, stored)) for name in PER_CUSTOMER_TABLES
        }
        before = _by_key(_run_local("deltas", stored).to_pylist())
        after = _by_key(
            _run_local(
                "deltas", {"segments": new[MRR_SEGMENTS], "spells": new[PAID_SPELLS]}
            ).to_pylist()
        )
        owned = [{"customer_id": customer_id} for customer_id in ids]
        for name in PER_CUSTOMER_TABLES:
            warehouse.delete_keys(name, scope, ("customer_id",), owned)
            if new[name].num_rows:
                warehouse.insert_arrow(name, new[name])
        moved = _difference(before, after)
        if moved:
            _adjust_deltas(warehouse, scope, moved)


# the inputs of the local statements: their names there and the tables they mirror
_INPUTS: Final = {
    "customers": CUSTOMERS,
    "subscriptions": SUBSCRIPTIONS,
    "segments": MRR_SEGMENTS,
    "spells": PAID_SPELLS,
}


@cache
def _statements() -> dict[str, str]:
    """The derivation as DuckDB SQL over the ``_INPUTS`` (built and compiled once:
    building and compiling the expressions costs far more than running them on one
    customer's rows)."""
    inputs = {
        label: ibis.table(SCHEMAS[name], name=f"live_{label}") for label, name in _INPUTS.items()
    }
    rows = per_customer_rows(inputs["customers"], inputs["subscriptions"])
    statements = {name: str(ibis.to_sql(expr, dialect="duckdb")) for name, expr in rows.items()}
    deltas = summed_deltas(delta_rows(inputs["segments"], inputs["spells"]))
    statements["deltas"] = str(ibis.to_sql(deltas, dialect="duckdb"))
    return statements


_local = threading.local()


def _run_local(statement: str, tables: dict[str, pa.Table]) -> pa.Table:
    """Run one of ``_statements`` on ``tables`` in this thread's in-memory DuckDB."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:  # one per thread, of one thread: the inputs are a few rows
        con = _local.con = duckdb.connect(config={"threads": 1})
    for label, rows in tables.items():
        con.register(f"live_{label}", rows)
    try:
        result: pa.Table = con.execute(_statements()[statement]).to_arrow_table()
    finally:
        for label in tables:
            con.unregister(f"live_{label}")
    return result


def _read(warehouse: Warehouse, scope: Scope, name: str, column: str, ids: list[str]) -> pa.Table:
    """The scope's rows of ``name`` whose ``column`` is one of ``ids``, typed as stored."""
    return warehouse.rows_matching(name, scope, (column,), [{column: i} for i in ids])


def _owned_by(scope: Scope, name: str, rows: pa.Table) -> pa.Table:
    """``rows`` with the scope's ``org_id`` and ``livemode``, in the table's schema."""
    schema = SCHEMAS[name].to_pyarrow()
    n = rows.num_rows
    columns = {
        "org_id": pa.array([scope.org_id] * n, pa.string()),
        "livemode": pa.array([scope.livemode] * n, pa.bool_()),
    }
    columns.update({c: rows[c] for c in rows.column_names})
    return pa.table({f.name: columns[f.name] for f in schema}).cast(schema)


def _by_key(records: list[dict[str, Any]]) -> dict[DeltaKey, DeltaValues]:
    return {
        (
            int(r["unit"]),
            int(r["kind"]),
            int(r["p0"]),
            r["currency"],
            r["ps"],
            int(r["p"]),
        ): (int(r["n"]), int(r["v"]), int(r["m"]), int(r["t"]))
        for r in records
    }


def _difference(
    before: dict[DeltaKey, DeltaValues], after: dict[DeltaKey, DeltaValues]
) -> dict[DeltaKey, DeltaValues]:
    """``after - before`` per key, the keys that do not move dropped."""
    moved: dict[DeltaKey, DeltaValues] = {}
    for key in before.keys() | after.keys():
        old = before.get(key, (0, 0, 0, 0))
        new = after.get(key, (0, 0, 0, 0))
        change = (new[0] - old[0], new[1] - old[1], new[2] - old[2], new[3] - old[3])
        if any(change):
            moved[key] = change
    return moved


def _adjust_deltas(warehouse: Warehouse, scope: Scope, moved: dict[DeltaKey, DeltaValues]) -> None:
    """Add ``moved`` to the scope's ``cohort_deltas``: the moved keys' rows are read,
    summed with it, deleted and written back (a sum of 0 leaves no row, as in a full
    refresh)."""
    keys = list(moved)
    matching = [dict(zip(DELTA_KEYS, key, strict=True)) for key in keys]
    stored = warehouse.rows_matching(COHORT_DELTAS, scope, DELTA_KEYS, matching)
    totals = dict(moved)
    for key, values in _by_key(stored.to_pylist()).items():
        change = totals[key]
        totals[key] = (
            values[0] + change[0],
            values[1] + change[1],
            values[2] + change[2],
            values[3] + change[3],
        )
    warehouse.delete_keys(COHORT_DELTAS, scope, DELTA_KEYS, matching)
    kept = [(key, values) for key, values in totals.items() if any(values)]
    if not kept:
        return
    columns: dict[str, list[Any]] = {
        "org_id": [scope.org_id] * len(kept),
        "livemode": [scope.livemode] * len(kept),
    }
    for i, name in enumerate(DELTA_KEYS):
        columns[name] = [key[i] for key, _ in kept]
    for i, name in enumerate(DELTA_VALUES):
        columns[name] = [values[i] for _, values in kept]
    schema = SCHEMAS[COHORT_DELTAS].to_pyarrow()
    warehouse.insert_arrow(COHORT_DELTAS, pa.table(columns, schema=schema))
