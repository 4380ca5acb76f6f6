"""Data-plane reads and writes of live changes: a few customers' rows at a time.

Reads are the warehouse's small filtered reads (``rows_matching``, always within the
scope: org + mode); writes its small-write paths (``delete_keys``, ``insert_arrow``).
Callers run them inside ``Warehouse.transaction()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from cohortd.subscriptions.rules import SubscriptionRow
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import CUSTOMERS, SCHEMAS, SUBSCRIPTIONS

_ROW_FIELDS = tuple(SubscriptionRow.__slots__)


def _row(record: dict[str, Any]) -> SubscriptionRow:
    return SubscriptionRow(**{name: record[name] for name in _ROW_FIELDS})


def subscriptions(
    warehouse: Warehouse, scope: Scope, subscription_ids: Iterable[str]
) -> dict[str, SubscriptionRow]:
    """The rows ``subscription_ids`` of this scope that exist, by id."""
    found = warehouse.rows_matching(
        SUBSCRIPTIONS, scope, ("id",), [{"id": i} for i in sorted(set(subscription_ids))]
    )
    return {record["id"]: _row(record) for record in found.to_pylist()}


def subscription(
    warehouse: Warehouse, scope: Scope, subscription_id: str
) -> SubscriptionRow | None:
    """The row ``subscription_id`` of this scope, if any."""
    return subscriptions(warehouse, scope, [subscription_id]).get(subscription_id)


def rows_by_customer(
    warehouse: Warehouse, scope: Scope, customer_ids: Iterable[str]
) -> dict[str, list[SubscriptionRow]]:
    """Every subscription row of each of ``customer_ids`` (an empty list for one with
    none), by start date and id."""
    ids = sorted(set(customer_ids))
    found = warehouse.rows_matching(
        SUBSCRIPTIONS, scope, ("customer_id",), [{"customer_id": i} for i in ids]
    )
    by_customer: dict[str, list[SubscriptionRow]] = {i: [] for i in ids}
    for record in found.to_pylist():
        by_customer[record["customer_id"]].append(_row(record))
    for rows in by_customer.values():
        rows.sort(key=lambda row: (row.start_date, row.id))
    return by_customer


def customer_rows(warehouse: Warehouse, scope: Scope, customer_id: str) -> list[SubscriptionRow]:
    """Every subscription row of one customer, by start date and id."""
    return rows_by_customer(warehouse, scope, [customer_id])[customer_id]


def existing_customers(warehouse: Warehouse, scope: Scope, customer_ids: Iterable[str]) -> set[str]:
    """Those of ``customer_ids`` stored in this scope."""
    return set(customers(warehouse, scope, customer_ids).column("id").to_pylist())


def customer_exists(warehouse: Warehouse, scope: Scope, customer_id: str) -> bool:
    return bool(existing_customers(warehouse, scope, [customer_id]))


def write_rows(
    warehouse: Warehouse,
    scope: Scope,
    *,
    upserts: Sequence[SubscriptionRow],
    removed: Sequence[str] = (),
) -> None:
    """Upsert ``upserts`` on ``id`` and delete the rows ``removed``."""
    gone = [{"id": i} for i in {*removed, *(row.id for row in upserts)}]
    warehouse.delete_keys(SUBSCRIPTIONS, scope, ("id",), gone)
    if upserts:
        warehouse.insert_arrow(SUBSCRIPTIONS, as_table(scope, upserts))


def as_table(scope: Scope, rows: Sequence[SubscriptionRow]) -> pa.Table:
    """``rows`` as rows of the scope's ``subscriptions`` table."""
    columns: dict[str, list[Any]] = {
        "org_id": [scope.org_id] * len(rows),
        "livemode": [scope.livemode] * len(rows),
    }
    for name in _ROW_FIELDS:
        columns[name] = [getattr(row, name) for row in rows]
    return pa.table(columns, schema=SCHEMAS[SUBSCRIPTIONS].to_pyarrow())


def customers(warehouse: Warehouse, scope: Scope, customer_ids: Iterable[str]) -> pa.Table:
    """The rows of ``customers`` of those of ``customer_ids`` stored in this scope."""
    wanted = [{"id": i} for i in sorted(set(customer_ids))]
    return warehouse.rows_matching(CUSTOMERS, scope, ("id",), wanted)


def insert_customer(warehouse: Warehouse, scope: Scope, values: dict[str, Any]) -> None:
    """One new customer row (``values``: the validated columns)."""
    schema = SCHEMAS[CUSTOMERS].to_pyarrow()
    record = {"org_id": scope.org_id, "livemode": scope.livemode, **values}
    warehouse.insert_arrow(CUSTOMERS, pa.Table.from_pylist([record], schema=schema))
