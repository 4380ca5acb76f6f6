"""The report model's cell fields: the written-out ``cell_fields`` against an obvious
reference (exact fractions, rounded half away from zero), on ties and random values."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cohortd.engine.report_model import MONEY_SCALE, _hundredths, cell_fields


def _rounded(value: Fraction) -> float:
    """An exact value rounded to 2 decimals, half away from zero."""
    hundredths = math.floor(abs(value) * 100 + Fraction(1, 2))
    return float(Decimal(hundredths if value >= 0 else -hundredths).scaleb(-2))


def money(value: int) -> float:
    return _rounded(Fraction(value, MONEY_SCALE))


def _percent(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else _rounded(Fraction(100 * part, whole))


def _churn(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else _rounded(100 - Fraction(100 * part, whole))


def _fields_plain(
    initial_customers: int,
    initial_mrr: int,
    customers: int,
    mrr: int,
    gross: int,
    previous_customers: int,
    previous_mrr: int,
    complete: bool,
) -> dict[str, Any]:
    """``cell_fields`` from the one-line helpers: the obvious form, the reference."""
    return {
        "mrr_retained": money(mrr),
        "customers_retained": customers,
        "mrr_retention": _percent(mrr, initial_mrr),
        "customer_retention": _percent(customers, initial_customers),
        "mrr_retention_relative": _percent(mrr, previous_mrr),
        "customer_retention_relative": _percent(customers, previous_customers),
        "mrr_churn": _churn(mrr, initial_mrr),
        "customer_churn": _churn(customers, initial_customers),
        "mrr_churn_relative": _churn(mrr, previous_mrr),
        "customer_churn_relative": _churn(customers, previous_customers),
        "complete": complete,
        "mrr_retained_gross": money(gross),
        "mrr_retention_gross": _percent(gross, initial_mrr),
    }


counts = st.integers(0, 10**7)
# money in 10⁻¹⁸ units: from 0 to about a trillion, and values on half-cent ties
amounts = st.one_of(
    st.integers(0, 10**30),
    st.integers(0, 10**9).map(lambda c: c * MONEY_SCALE // 100 + MONEY_SCALE // 200),
)


def test_hundredths_round_half_away_from_zero() -> None:
    assert _hundredths(5, 10) == 1  # 0.5 → 1
    assert _hundredths(-5, 10) == -1  # -0.5 → -1
    assert _hundredths(4, 10) == 0 and _hundredths(-4, 10) == 0
    assert _hundredths(15, 10) == 2 and _hundredths(-15, 10) == -2
    assert _hundredths(0, 7) == 0


def test_a_hand_worked_cell() -> None:
    # 3 of 4 customers (75 %), previous 4; MRR 123.455 of 200 (61.7275 % → 61.73),
    # previous 100 (123.455 % → 123.46, churn −23.455 → −23.46); gross 100.005 → 100.01
    cell = cell_fields(
        4,
        200 * MONEY_SCALE,
        3,
        123_455 * MONEY_SCALE // 1000,
        100_005 * MONEY_SCALE // 1000,
        4,
        100 * MONEY_SCALE,
        True,
    )
    assert cell["customer_retention"] == 75.0 and cell["customer_churn"] == 25.0
    assert cell["mrr_retained"] == 123.46 and cell["mrr_retention"] == 61.73
    assert cell["mrr_retention_relative"] == 123.46 and cell["mrr_churn_relative"] == -23.46
    assert cell["mrr_retained_gross"] == 100.01 and cell["mrr_retention_gross"] == 50.0


@given(counts, amounts, counts, amounts, amounts, counts, amounts, st.booleans())
def test_written_out_fields_equal_the_helpers(
    n: int, b: int, c: int, m: int, g: int, pc: int, pm: int, complete: bool
) -> None:
    for args in ((n, b, c, m, g, pc, pm), (0, 0, c, m, g, 0, 0), (n, b, 0, 0, 0, pc, pm)):
        assert cell_fields(*args, complete) == _fields_plain(*args, complete)


# a part and a whole whose percentage is exactly a tie (x.xx5 %): whole = 20000 t,
# part = t (2 j + 1) gives 100 part / whole = (2 j + 1) / 200, on either side of 100 %
@given(st.integers(1, 10**12), st.integers(0, 40_000), st.booleans())
def test_percentage_ties_round_half_away_from_zero(t: int, j: int, complete: bool) -> None:
    whole, part = 20_000 * t, t * (2 * j + 1)
    for args in (
        (whole, whole, part, part, part, whole, whole),  # counts and money both on ties
        (whole, whole * MONEY_SCALE, part, part * MONEY_SCALE, part, part, part),
    ):
        assert cell_fields(*args, complete) == _fields_plain(*args, complete)


def test_hand_worked_ties() -> None:
    # 1 of 8 = 12.5 %, churn 87.5 %; 1 of 800 = 0.125 % → 0.13, churn 99.875 → 99.88;
    # 1001 of 800 = 125.125 % → 125.13, churn -25.125 → -25.13 (half away from zero)
    cell = cell_fields(800, 800 * MONEY_SCALE, 1, 1001 * MONEY_SCALE, 0, 8, 8 * MONEY_SCALE, True)
    assert (cell["customer_retention"], cell["customer_churn"]) == (0.13, 99.88)
    assert (cell["mrr_retention"], cell["mrr_churn"]) == (125.13, -25.13)
    assert (cell["customer_retention_relative"], cell["customer_churn_relative"]) == (12.5, 87.5)
    assert (cell["mrr_retention_relative"], cell["mrr_churn_relative"]) == (12512.5, -12412.5)
