"""Data-plane writes of subscribers: the only UPDATE cohortd makes to customer rows.

The statement is a sqlglot expression compiled by the backend's own dialect (values are
quoted by sqlglot, never pasted into a string), run inside ``Warehouse.transaction()``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlglot import exp

from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import CUSTOMERS


def _tags_literal(tags: list[str]) -> exp.Expression:
    array = exp.Array(expressions=[exp.Literal.string(tag) for tag in tags])
    # The cast types an empty array, which PostgreSQL cannot infer on its own.
    return exp.cast(array, exp.DataType.build("ARRAY<TEXT>"))


def update_customer(
    warehouse: Warehouse,
    scope: Scope,
    customer_id: str,
    *,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    set_metadata: bool = False,
) -> None:
    """Set ``tags`` (when given) and ``metadata`` (when ``set_metadata``) in one transaction."""
    values: dict[str, object] = {}
    if tags is not None:
        values["tags"] = _tags_literal(tags)
    if set_metadata:
        values["metadata"] = (
            exp.null() if metadata is None else exp.Literal.string(json.dumps(metadata))
        )
    if not values:
        return
    where = exp.and_(
        exp.column("org_id").eq(exp.Literal.string(scope.org_id)),
        exp.column("livemode").eq(exp.true() if scope.livemode else exp.false()),
        exp.column("id").eq(exp.Literal.string(customer_id)),
    )
    statement = exp.update(exp.to_table(CUSTOMERS, quoted=True), values, where=where)
    with warehouse.transaction(scope):
        warehouse.run_statement(statement)
