"""The data plane: ``connect(url)`` gives a ``Warehouse`` over an Ibis backend.

Analytic reads are Ibis expressions built in ``cohortd.engine``; bulk writes use each
backend's fastest path, kept in one class per backend (``warehouse.backends``).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir

from cohortd.warehouse.backends import Warehouse, connect


@dataclass(frozen=True, slots=True)
class Scope:
    """Tenant and mode: every data-plane read and write is confined to one."""

    org_id: str
    livemode: bool


def scoped(warehouse: Warehouse, table_name: str, scope: Scope) -> ir.Table:
    """The rows of ``table_name`` that belong to ``scope``: the only way engines read tables."""
    table = warehouse.table(table_name)
    return table.filter((table.org_id == scope.org_id) & (table.livemode == scope.livemode))


__all__ = ["Scope", "Warehouse", "connect", "scoped"]
