"""The derived rows of a few customers, brought up to date inside the writer's transaction.

A batch of live changes (``cohortd.subscriptions``) touches a few customers.
``refresh_customers`` rewrites their rows of the per-customer tables (facts, spells,
segments) from the canonical tables, and adjusts ``cohort_deltas`` key by key: the
customers' own changes before the write are taken off, the ones after it added, and
only the keys that moved are read and rewritten. Nothing else of the organization's
derived rows is read or written. The rows are found through filters on the customers'
ids (on DuckDB a scan of one column, whose cost grows with the table, far less than the
rows it would take to recompute them; docs/benchmarks.md, "Live changes").

The result is the same, row for row, as ``derived.refresh`` of the whole scope (a
property test compares them); ``derived.refresh(customer_ids=...)``, which the import's
catch-up uses, rewrites every ``cohort_deltas`` row of the scope instead, which is
cheaper for many customers at once and far dearer for one.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import cache
from typing import Any, Final

import duckdb
import ibis
import pyarrow as pa
import pyarrow.compute as pc

from cohortd.engine.cohort_deltas import DELTA_KEYS, DELTA_VALUES, delta_rows, summed_deltas
from cohortd.engine.derived import PER_CUSTOMER_TABLES, per_customer_rows
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import (
    COHORT_DELTAS,
    CUSTOMERS,
    MRR_SEGMENTS,
    PAID_SPELLS,
    SCHEMAS,
    SEVERAL_PAIRS,
    SUBSCRIPTIONS,
)

DeltaKey = tuple[int, int, int, str | None, date | None, int]
DeltaValues = tuple[int, int, int, int]


def refresh_customers(
    warehouse: Warehouse,
    scope: Scope,
    customer_ids: Sequence[str],
    *,
    customers: pa.Table | None = None,
    subscriptions: pa.Table | None = None,
) -> None:
    """Recompute the derived rows of ``customer_ids`` (a few) from the canonical tables.

    Call it inside the transaction that changed their canonical rows (it opens none).
    The customers' canonical and derived rows are read (a few rows, through filters on
    their ids) and the derivation itself runs on them in an in-process DuckDB: the same
    Ibis expressions as ``derived.refresh``, none of it in the warehouse, so its cost
    is the customers' own, on every backend. A caller that holds the customers' rows of
    ``customers`` and ``subscriptions`` as just written (in the tables' schemas) passes
    them, and they are not read again."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    with warehouse._lock:
        if customers is None:
            customers = _read(warehouse, scope, CUSTOMERS, "id", ids)
        if subscriptions is None:
            subscriptions = _read(warehouse, scope, SUBSCRIPTIONS, "customer_id", ids)
        stored = {
            "segments": _read(warehouse, scope, MRR_SEGMENTS, "customer_id", ids),
            "spells": _read(warehouse, scope, PAID_SPELLS, "customer_id", ids),
        }
        with _local_db() as local:
            local.load({"customers": customers, "subscriptions": subscriptions})
            several = _several_currencies(subscriptions)
            new = {
                name: _owned_by(scope, name, local.run(name))
                if several or name != SEVERAL_PAIRS
                else SCHEMAS[name].to_pyarrow().empty_table()  # no member in several
                for name in PER_CUSTOMER_TABLES
            }
            local.load(stored)
            before = _by_key(local.run("deltas").to_pylist())
            local.load({"segments": new[MRR_SEGMENTS], "spells": new[PAID_SPELLS]})
            after = _by_key(local.run("deltas").to_pylist())
        owned = [{"customer_id": customer_id} for customer_id in ids]
        for name in PER_CUSTOMER_TABLES:
            if name == SEVERAL_PAIRS and not new[name].num_rows and not _several(stored):
                continue  # nobody billed in several currencies, before or after: no rows
            warehouse.delete_keys(name, scope, ("customer_id",), owned)
            if new[name].num_rows:
                warehouse.insert_arrow(name, new[name])
        moved = _difference(before, after)
        if moved:
            _adjust_deltas(warehouse, scope, moved)


def _several_currencies(subscriptions: pa.Table) -> bool:
    """Whether a customer's rows name more than one currency: without one, no member
    is billed in several and ``several_pairs`` has no rows to derive."""
    if not subscriptions.num_rows:
        return False
    counts = subscriptions.group_by("customer_id").aggregate([("currency", "count_distinct")])
    return bool(pc.max(counts.column("currency_count_distinct")).as_py() > 1)


def _several(stored: dict[str, pa.Table]) -> bool:
    """Whether the customers' stored segments hold one of a member billed in several
    currencies (``pay_currency`` null): only those have ``several_pairs`` rows."""
    return int(stored["segments"].column("pay_currency").null_count) > 0


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


# DuckDB's optimizers whose plans depend on the data at planning time (statistics,
# known-empty inputs, row-group zone maps)
_DATA_DEPENDENT: Final = (
    "statistics_propagation",
    "compressed_materialization",
    "empty_result_pullup",
    "row_group_pruner",
)


class _LocalDb:
    """An in-memory DuckDB for the derivation: one temp table per input and the
    statements prepared over them once. Each run replaces the inputs' rows and executes
    a prepared statement: no statement is parsed, bound or planned again (that, not
    the few rows, was most of a live write's derivation time)."""

    def __init__(self) -> None:
        self.con = duckdb.connect(config={"threads": 1})  # the inputs are a few rows
        # A prepared plan is kept while the inputs' rows change, so it must not depend on
        # the rows it was planned with (empty tables): no optimizer that reads the
        # tables' statistics or row groups at planning may run.
        self.con.execute(f"SET disabled_optimizers = '{','.join(_DATA_DEPENDENT)}'")
        for label, name in _INPUTS.items():
            empty = SCHEMAS[name].to_pyarrow().empty_table()
            self.con.register("_live_empty", empty)
            self.con.execute(f"CREATE TEMP TABLE live_{label} AS SELECT * FROM _live_empty")
            self.con.unregister("_live_empty")
        for statement, sql in _statements().items():
            self.con.execute(f"PREPARE live_{statement} AS {sql}")

    def load(self, tables: dict[str, pa.Table]) -> None:
        """Make ``tables`` (label -> rows in the input's schema) the inputs' rows."""
        for label, rows in tables.items():
            self.con.execute(f"DELETE FROM live_{label}")
            if rows.num_rows:
                names = SCHEMAS[_INPUTS[label]].names
                self.con.from_arrow(rows.select(list(names))).insert_into(f"live_{label}")

    def run(self, statement: str) -> pa.Table:
        """One of ``_statements`` over the inputs loaded last."""
        result: pa.Table = self.con.execute(f"EXECUTE live_{statement}").to_arrow_table()
        return result


_LOCAL_LOCK = threading.Lock()
_LOCAL: list[_LocalDb] = []  # the process's one, made on first use


@contextmanager
def _local_db() -> Iterator[_LocalDb]:
    """The process's ``_LocalDb``, to one caller at a time (a warehouse's live writes are
    serialized anyway). One for the process, not one per thread: a connection left in a
    thread's storage would be torn down at exit by whichever thread exits last."""
    with _LOCAL_LOCK:
        if not _LOCAL:
            _LOCAL.append(_LocalDb())
        yield _LOCAL[0]


@atexit.register
def _close_local_db() -> None:
    if _LOCAL_LOCK.acquire(timeout=5):  # a write still running keeps it: exit regardless
        try:
            for local in _LOCAL:
                local.con.close()
            _LOCAL.clear()
        finally:
            _LOCAL_LOCK.release()


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
