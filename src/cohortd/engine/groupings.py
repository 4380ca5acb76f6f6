"""Customer groupings behind Pillar's generated cohorts (SPEC §3 "Auto-generation").

Four kinds: the calendar quarter of ``created_at`` (vintage), and the customer's
``segment``, ``territory`` and ``owner_id``. A category value groups whole-value and
case-insensitively, as membership matches it (``engine.membership``), so one generated
cohort never holds another's members; a missing or blank value makes no group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import ibis.expr.types as ir

from cohortd.engine.periods import Interval, first_day, period_of_expr
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS


class GroupKind(StrEnum):
    """The generated cohort types, each with the customer field it groups on."""

    vintage = "vintage"
    segment = "segment"
    territory = "territory"
    rep = "rep"

    @property
    def field(self) -> str:
        return GROUPING_FIELDS[self]


GROUPING_FIELDS: Final = {
    GroupKind.vintage: "created_at",
    GroupKind.segment: "segment",
    GroupKind.territory: "territory",
    GroupKind.rep: "owner_id",
}


@dataclass(frozen=True)
class Group:
    """One non-empty group: its key (lower case for categories), shown value and size."""

    kind: GroupKind
    key: str
    value: str
    members: int


def quarter_label(quarter: int) -> str:
    """``2025-Q3`` for a quarter number of ``engine.periods``."""
    start = first_day(quarter, Interval.quarter)
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def quarter_bounds(label: str) -> tuple[datetime, datetime]:
    """``[created_from, created_before)`` of a ``YYYY-Qn`` label (naive UTC)."""
    year, quarter = int(label[:4]), int(label[-1])
    start = datetime(year, 3 * (quarter - 1) + 1, 1)
    end = datetime(year + 1, 1, 1) if quarter == 4 else datetime(year, 3 * quarter + 1, 1)
    return start, end


def vintage_groups(customers: ir.Table) -> ir.Table:
    """``quarter, members``: customers per calendar quarter of ``created_at``."""
    quarters = customers.select(
        quarter=period_of_expr(customers.created_at.date(), Interval.quarter)
    )
    return quarters.group_by("quarter").agg(members=quarters.count())


def category_groups(customers: ir.Table, column: str) -> ir.Table:
    """``key, value, members``: customers per lower-cased value (shown: its smallest spelling)."""
    values = customers.filter(customers[column].notnull() & (customers[column].strip() != ""))
    keyed = values.select(key=values[column].lower(), value=values[column])
    return keyed.group_by("key").agg(value=keyed.value.min(), members=keyed.count())


def customer_groups(warehouse: Warehouse, scope: Scope) -> list[Group]:
    """Every non-empty group of the four kinds, in one query per kind."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    found = [
        Group(
            GroupKind.vintage,
            quarter_label(r["quarter"]),
            quarter_label(r["quarter"]),
            r["members"],
        )
        for r in warehouse.to_pyarrow(vintage_groups(customers)).to_pylist()
    ]
    for kind in (GroupKind.segment, GroupKind.territory, GroupKind.rep):
        rows = warehouse.to_pyarrow(category_groups(customers, kind.field)).to_pylist()
        found.extend(Group(kind, r["key"], r["value"], int(r["members"])) for r in rows)
    return sorted(found, key=lambda g: (list(GroupKind).index(g.kind), g.key))
