"""Snapshots of a scope's stored rows, to prove a write changed nothing or the same as a rebuild."""

from __future__ import annotations

from typing import Any

from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, DERIVED_TABLES, SUBSCRIPTIONS

STORED_TABLES = (CUSTOMERS, SUBSCRIPTIONS, *DERIVED_TABLES)


def _key(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, repr(value)) for name, value in record.items()))


def stored_rows(
    warehouse: Warehouse, scope: Scope, tables: tuple[str, ...] = STORED_TABLES
) -> dict[str, list[tuple[tuple[str, str], ...]]]:
    """Every row of ``tables`` in ``scope``, each as a sorted tuple, the rows sorted."""
    out = {}
    for name in tables:
        rows = warehouse.to_pyarrow(scoped(warehouse, name, scope)).to_pylist()
        out[name] = sorted(_key({k: v for k, v in r.items() if k != "org_id"}) for r in rows)
    return out


def without_ids(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Subscription rows as answered, minus the server-made ids (sorted)."""
    return sorted(
        (
            r["customer_id"],
            r["plan_id"],
            r["currency"],
            r["mrr"],
            r["start_date"],
            r["end_date"],
            r["status"],
        )
        for r in rows
    )
