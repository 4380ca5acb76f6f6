"""Data-plane reads and writes of live changes: one customer's rows at a time.

Reads are Ibis expressions through ``warehouse.scoped`` (org + mode); writes are the
warehouse's own small-write paths (``delete_keys``, ``insert_arrow``). Callers run them
inside ``Warehouse.transaction()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from cohortd.subscriptions.rules import SubscriptionRow
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SCHEMAS, SUBSCRIPTIONS

_ROW_FIELDS = tuple(SubscriptionRow.__slots__)


def _row(record: dict[str, Any]) -> SubscriptionRow:
    return SubscriptionRow(**{name: record[name] for name in _ROW_FIELDS})


def subscription(
    warehouse: Warehouse, scope: Scope, subscription_id: str
) -> SubscriptionRow | None:
    """The row ``subscription_id`` of this scope, if any."""
    table = scoped(warehouse, SUBSCRIPTIONS, scope)
    found = warehouse.to_pyarrow(table.filter(table.id == subscription_id)).to_pylist()
    return _row(found[0]) if found else None


def customer_rows(warehouse: Warehouse, scope: Scope, customer_id: str) -> list[SubscriptionRow]:
    """Every subscription row of one customer, by start date and id."""
    table = scoped(warehouse, SUBSCRIPTIONS, scope)
    found = warehouse.to_pyarrow(table.filter(table.customer_id == customer_id))
    rows = [_row(record) for record in found.to_pylist()]
    return sorted(rows, key=lambda row: (row.start_date, row.id))


def customer_exists(warehouse: Warehouse, scope: Scope, customer_id: str) -> bool:
    table = scoped(warehouse, CUSTOMERS, scope)
    return bool(warehouse.execute(table.filter(table.id == customer_id).count()))


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
    if not upserts:
        return
    columns: dict[str, list[Any]] = {
        "org_id": [scope.org_id] * len(upserts),
        "livemode": [scope.livemode] * len(upserts),
    }
    for name in _ROW_FIELDS:
        columns[name] = [getattr(row, name) for row in upserts]
    schema = SCHEMAS[SUBSCRIPTIONS].to_pyarrow()
    warehouse.insert_arrow(SUBSCRIPTIONS, pa.table(columns, schema=schema))


def insert_customer(warehouse: Warehouse, scope: Scope, values: dict[str, Any]) -> None:
    """One new customer row (``values``: the validated columns)."""
    schema = SCHEMAS[CUSTOMERS].to_pyarrow()
    record = {"org_id": scope.org_id, "livemode": scope.livemode, **values}
    warehouse.insert_arrow(CUSTOMERS, pa.Table.from_pylist([record], schema=schema))
