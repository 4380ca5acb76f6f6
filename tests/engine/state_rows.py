"""Typed builders of data-plane rows for customer-state, membership and subscriber tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from cohortd.engine import derived
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import CUSTOMERS, SCHEMAS, SUBSCRIPTIONS


@dataclass(frozen=True)
class Cust:
    """A customer row; only the fields a test cares about need a value."""

    id: str
    created_at: datetime = datetime(2024, 1, 1)
    status: str | None = None
    plan_id: str | None = None
    country: str | None = None
    currency: str | None = None
    industry: str | None = None
    channel: str | None = None
    size: str | None = None
    segment: str | None = None
    territory: str | None = None
    owner_id: str | None = None
    tags: tuple[str, ...] | None = None
    engagement_score: float | None = None
    name: str | None = None
    email: str | None = None
    email_hashed: str | None = None
    health_score: float | None = None
    risk_score: float | None = None
    metadata: str | None = None


@dataclass(frozen=True)
class Sub:
    """A subscription stretch: ``mrr_minor`` over ``[start, end)``."""

    id: str
    customer_id: str
    start: date
    end: date | None = None
    mrr_minor: int = 0
    plan_id: str | None = "basic"
    currency: str = "USD"
    status: str | None = "active"


def _table(name: str, records: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[name].to_pyarrow()
    return pa.Table.from_pylist(records, schema=schema)


def load(
    warehouse: Warehouse,
    scope: Scope,
    customers: list[Cust],
    subscriptions: list[Sub] | None = None,
) -> None:
    """Insert the rows under ``scope``."""
    base = {"org_id": scope.org_id, "livemode": scope.livemode}
    if customers:
        cust_rows = [
            {**base, **vars(c), "tags": list(c.tags) if c.tags is not None else None}
            for c in customers
        ]
        warehouse.insert_arrow(CUSTOMERS, _table(CUSTOMERS, cust_rows))
    if subscriptions:
        sub_rows = [
            {
                **base,
                "id": s.id,
                "customer_id": s.customer_id,
                "plan_id": s.plan_id,
                "currency": s.currency,
                "mrr_minor": s.mrr_minor,
                "start_date": s.start,
                "end_date": s.end,
                "status": s.status,
            }
            for s in subscriptions
        ]
        warehouse.insert_arrow(SUBSCRIPTIONS, _table(SUBSCRIPTIONS, sub_rows))
    if customers or subscriptions:
        with warehouse.transaction():
            derived.refresh(warehouse, scope)  # what the catch-up after an import does
