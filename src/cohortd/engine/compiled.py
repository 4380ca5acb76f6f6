"""Compiled SQL, remembered: build and compile an Ibis expression once per key.

Building and compiling an expression costs tens of milliseconds in Python, more than a
selective query takes to run, and the same questions come back (a cohort's count, the
first page of its members, as of the same day). The key must name everything the
expression depends on (scope, criteria, days, ids); the SQL is kept per backend kind,
at most ``MAX_ENTRIES`` of them, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final

import ibis.expr.types as ir

from cohortd.warehouse import Warehouse

MAX_ENTRIES: Final = 1024

_sql: OrderedDict[tuple[Hashable, ...], str] = OrderedDict()
_lock: Final = threading.Lock()


def run_cached(
    warehouse: Warehouse, key: tuple[Hashable, ...], build: Callable[[], ir.Expr]
) -> list[dict[str, Any]]:
    """The rows of the expression ``build()`` makes; its SQL is compiled once per ``key``.

    Values are the database driver's Python values (an integer sum may come back as a
    ``Decimal`` on PostgreSQL): cast in the expression where the type matters."""
    return warehouse.fetch_rows(compiled(warehouse, key, build))


def compiled(warehouse: Warehouse, key: tuple[Hashable, ...], build: Callable[[], ir.Expr]) -> str:
    """The SQL of ``build()`` on this warehouse's backend, from the cache when known."""
    full_key = (warehouse.name, *key)
    with _lock:
        sql = _sql.get(full_key)
        if sql is not None:
            _sql.move_to_end(full_key)
            return sql
    sql = warehouse.compile(build())
    with _lock:
        _sql[full_key] = sql
        while len(_sql) > MAX_ENTRIES:
            _sql.popitem(last=False)
    return sql


def clear() -> None:
    """Forget every compiled statement (tests)."""
    with _lock:
        _sql.clear()
