"""SPEC rules the generator applies itself: §1 status/plan on the horizon, §1 money exponents.

Scenario table: each case is a few hand-made stretches of customer 0 (day numbers, OPEN =
still running), with the status and plan SPEC §1 gives on the horizon, worked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from cohortd.demo.catalog import PLAN_IDS
from cohortd.demo.lifecycle import BASE_LINE, OPEN, RowStatus, Stretches
from cohortd.demo.today import NONE, current_state

A, T, P, C, L = (RowStatus.active, RowStatus.trialing, RowStatus.paused, RowStatus.cancelled,
                 RowStatus.lapsed)  # fmt: skip


def _rows(*rows: tuple[str, int, int, int, RowStatus]) -> Stretches:
    """(plan id, mrr minor, start, end, status) rows, all of customer 0."""
    return Stretches(
        customer=np.zeros(len(rows), dtype=np.int64),
        plan=np.array([PLAN_IDS.index(row[0]) for row in rows], dtype=np.int8),
        mrr=np.array([row[1] for row in rows], dtype=np.int64),
        start=np.array([row[2] for row in rows], dtype=np.int64),
        end=np.array([row[3] for row in rows], dtype=np.int64),
        status=np.array([row[4] for row in rows], dtype=np.int8),
        line=np.full(len(rows), BASE_LINE, dtype=np.int8),
    )


CASES = [
    # A running row with MRR 2900 > 0 -> active; its plan is pro.
    ("running paid row", [("pro", 2900, 10, OPEN, A)], A, "pro"),
    # Running rows: starter 0 (trial) and business 0 (paused): MRR 0, a paused row covers
    # the day -> paused. Plan: highest MRR is a tie at 0 -> smallest id "business".
    ("paused beats trialing", [("starter", 0, 5, OPEN, T), ("business", 0, 5, OPEN, P)], P,
     "business"),
    # Only a running trial (MRR 0, not paused) -> trialing; plan enterprise.
    ("open trial", [("enterprise", 0, 3, OPEN, T)], T, "enterprise"),
    # Nothing runs; the row that ended last (day 40) says lapsed -> lapsed; no plan.
    ("ended lapsed", [("pro", 0, 1, 15, T), ("pro", 4900, 15, 40, L)], L, None),
    # Nothing runs; the last ended row (day 40) says paused, not lapsed -> cancelled, even
    # though an earlier row (day 20) said lapsed.
    ("ended paused after lapse", [("pro", 4900, 1, 20, L), ("pro", 0, 30, 40, P)], C, None),
    # Two running rows: addon 4900 and starter 2900 -> plan of the highest MRR: addon_api.
    ("overlapping rows", [("starter", 2900, 1, OPEN, A), ("addon_api", 4900, 9, OPEN, A)], A,
     "addon_api"),
    # Two running rows of equal MRR 2900 -> the smallest plan id, "pro" < "starter".
    ("plan tie", [("starter", 2900, 1, OPEN, A), ("pro", 2900, 9, OPEN, A)], A, "pro"),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "status", "plan"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_status_and_plan_on_the_horizon(
    rows: list[tuple[str, int, int, int, RowStatus]], status: RowStatus, plan: str | None
) -> None:
    state = current_state(_rows(*rows), customers=1)
    assert RowStatus(state.status[0]) is status
    assert (PLAN_IDS[state.plan[0]] if state.plan[0] != NONE else None) == plan


def test_customer_without_rows_has_no_status() -> None:
    # Customer 1 has no rows: no status, no plan (SPEC: "else null").
    state = current_state(_rows(("pro", 2900, 1, OPEN, A)), customers=2)
    assert state.status[1] == NONE
    assert state.plan[1] == NONE


def test_money_text_has_exactly_the_currency_exponent() -> None:
    from cohortd.demo.catalog import CURRENCIES
    from cohortd.demo.layout import money_text

    usd, jpy, eur = (CURRENCIES.index(code) for code in ("USD", "JPY", "EUR"))
    minor = np.array([12345, 5, 2900, 0, 100], dtype=np.int64)
    currency = np.array([usd, usd, jpy, eur, jpy])
    # 12345 cents = 123.45 USD; 5 cents = 0.05; 2900 yen = "2900" (JPY has no decimals);
    # 0 cents = "0.00" EUR; 100 yen = "100", not "1.00".
    assert money_text(minor, currency).to_pylist() == ["123.45", "0.05", "2900", "0.00", "100"]
