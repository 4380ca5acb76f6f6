"""The whole scope's monthly movements from the kept sums (``engine.monthly``) equal,
to the last digit, those ``cohort_movements`` computes from the segments: random
multi-currency histories with moving rates (members in one currency and in several),
complete months, a last month cut short, constant currency, and other periods (which
fall back to the segments)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import per_backend
from tests.engine.state_rows import Cust, Sub
from tests.metrics.test_properties import TODAY, _store, random_population

from cohortd.engine.metrics import Granularity, windows
from cohortd.engine.monthly import kept_movements, whole_scope_movements
from cohortd.engine.movement_model import Movement, Window
from cohortd.engine.movements import cohort_movements
from cohortd.warehouse import Warehouse

CASES: dict[str, tuple[Granularity, date, date, bool]] = {
    "months": (Granularity.month, date(2024, 1, 1), date(2025, 5, 31), False),
    "cut": (Granularity.month, date(2024, 9, 1), TODAY, False),
    "fixed": (Granularity.month, date(2024, 3, 1), date(2025, 4, 30), True),
    "quarters": (Granularity.quarter, date(2024, 1, 1), TODAY, False),
}


def _segments_path(warehouse: Warehouse, scope: Any, periods: list[Window], fixed: Any) -> Any:
    return cohort_movements(
        warehouse, scope, members=None, periods=periods, currency="EUR", fixed_rate_day=fixed
    )


@pytest.mark.parametrize(
    ("warehouse", "case"),
    per_backend(
        {"duckdb": list(CASES), "postgres": list(CASES), "spark": ["cut"]},
    ),
    indirect=["warehouse"],
)
@pytest.mark.parametrize("seed", [3, 8])
def test_kept_sums_equal_the_segments(
    warehouse: Warehouse, new_scope: Any, case: str, seed: int
) -> None:
    granularity, start, end, fix_fx = CASES[case]
    people, subs, rates = random_population(seed, customers=30)
    scope = new_scope()
    _store(warehouse, scope, people, subs, rates)
    periods = windows(granularity, start, end, cut=end)
    fixed = periods[0].start if fix_fx else None
    kept = whole_scope_movements(
        warehouse, scope, periods=periods, currency="EUR", fixed_rate_day=fixed
    )
    expected = _segments_path(warehouse, scope, periods, fixed)
    assert kept.series() == expected.series()
    moved = [m for p in expected.series() for m in p.counts.values()]
    assert sum(moved) > 10, "the data moves"


def test_one_and_several_currencies_both_count(duckdb_warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    """A hand-worked month: one member in one currency expands 10 → 25 EUR, one in two
    currencies (EUR ends, ARS starts) contracts; the kept path sees both."""
    scope = new_scope()
    _store(
        duckdb_warehouse,
        scope,
        [Cust("a", datetime(2024, 1, 1)), Cust("b", datetime(2024, 1, 1))],
        [
            Sub("a1", "a", date(2024, 1, 1), date(2024, 3, 10), 1000, currency="EUR"),
            Sub("a2", "a", date(2024, 3, 10), None, 2500, currency="EUR"),
            Sub("b1", "b", date(2024, 1, 1), date(2024, 3, 5), 4000, currency="EUR"),
            Sub("b2", "b", date(2024, 3, 5), None, 100000, currency="ARS"),
        ],
        {"ARS": [(date(2024, 1, 1), Decimal("1000"))]},  # 1 EUR = 1000 ARS: 1000 ARS = 1 EUR
    )
    periods = windows(Granularity.month, date(2024, 3, 1), date(2024, 3, 31), cut=TODAY)
    (march,) = kept_movements(duckdb_warehouse, scope, periods=periods, currency="EUR").series()
    assert march.starting_mrr == Decimal(50)  # 10 + 40 EUR
    assert march.ending_mrr == Decimal(26)  # 25 EUR + 1000 ARS (1 EUR)
    assert march.moved(Movement.expansion) == Decimal(15)
    assert march.moved(Movement.contraction) == Decimal(39)
    assert march.counts == {Movement.expansion: 1, Movement.contraction: 1}
    assert (march.paying_at_start, march.paying_at_end) == (2, 2)


def test_kept_movements_refuse_other_periods(duckdb_warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    scope = new_scope()
    cut = windows(Granularity.month, date(2025, 5, 1), TODAY, cut=TODAY)
    with pytest.raises(ValueError, match="complete calendar months"):
        kept_movements(duckdb_warehouse, scope, periods=cut, currency="EUR")
    weeks = windows(Granularity.week, date(2025, 5, 5), date(2025, 5, 18), cut=TODAY)
    with pytest.raises(ValueError, match="complete calendar months"):
        kept_movements(duckdb_warehouse, scope, periods=weeks, currency="EUR")
