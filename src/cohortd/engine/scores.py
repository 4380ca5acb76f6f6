"""Average health and risk scores of member sets, exact.

The scores are doubles (0-100); their sums are taken as decimals in the database and the
division is made here with ``Decimal``, so an average does not depend on the order the
database adds the values in (a float mean can differ in its last bits from one plan or
thread count to another) and one cohort's average is the same alone or among many.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import ibis.expr.types as ir

SCORE_TYPE: Final = "decimal(38, 12)"


def score_sums(members: ir.Table, customers: ir.Table, key: list[str]) -> ir.Table:
    """``key..., health_sum, health_n, risk_sum, risk_n``: sums and counts of the scores
    of ``members`` (``customer_id`` plus the ``key`` columns) per key (no key: one row)."""
    joined = members.join(customers, members.customer_id == customers.id)
    health = joined.health_score.cast(SCORE_TYPE)
    risk = joined.risk_score.cast(SCORE_TYPE)
    metrics = {
        "health_sum": health.sum(),
        "health_n": joined.health_score.count(),
        "risk_sum": risk.sum(),
        "risk_n": joined.risk_score.count(),
    }
    if not key:
        return joined.aggregate(**metrics)
    return joined.group_by(key).agg(**metrics)


def average(total: Any, count: Any) -> Decimal | None:
    """Exact ``total / count`` (None when nobody had a score)."""
    if not count:
        return None
    return Decimal(str(total)) / int(count)
