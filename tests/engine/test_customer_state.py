"""SPEC §1 derived state, every branch, on DuckDB and PostgreSQL.

Day asked D = 2025-06-15; "today" = 2025-07-01 unless a case says otherwise.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from tests.conftest import on_spark_too
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine.customer_state import customer_state, mrr_by_currency
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SUBSCRIPTIONS

# every test on DuckDB, PostgreSQL and Spark (the conftest's ``warehouse``)
pytestmark = on_spark_too


D = date(2025, 6, 15)
TODAY = date(2025, 7, 1)
JAN1 = date(2025, 1, 1)
# Jan 1 → Jun 15: 31 + 28 + 31 + 30 + 31 = 151 days to Jun 1, + 14 = 165.
TENURE_FROM_JAN1 = 165

CUSTOMERS_ROWS = [
    Cust(id=name)
    for name in (
        "active",
        "paused",
        "trial",
        "lapsed",
        "cancelled",
        "future",
        "none",
        "given",
        "tie",
        "face",
        "paused_paying",
        "tie_end",
        "start_d",
        "paused_trial",
    )
]

SUBS = [
    # active: one paying row covering D.
    Sub("s1", "active", JAN1, None, 1000),
    # paused: paid until Jun 1, then a paused stretch at MRR 0 covering D.
    Sub("s2a", "paused", JAN1, date(2025, 6, 1), 1000),
    Sub("s2b", "paused", date(2025, 6, 1), None, 0, plan_id="pro", status="paused"),
    # trial: an MRR-0 trialing row covering D, never paid.
    Sub("s3", "trial", date(2025, 6, 1), date(2025, 7, 1), 0, status="trialing"),
    # lapsed: nothing covers D; the row that ended last (Jun 1) says lapsed.
    Sub("s4a", "lapsed", JAN1, date(2025, 5, 1), 500),
    Sub("s4b", "lapsed", date(2025, 5, 1), date(2025, 6, 1), 0, status="lapsed"),
    # cancelled: an older lapsed row, but the last one (ending ON D, so ended) is not lapsed.
    Sub("s5a", "cancelled", date(2024, 1, 1), date(2024, 6, 1), 0, status="lapsed"),
    Sub("s5b", "cancelled", JAN1, D, 500, status="active"),
    # future: its only row starts after D → no status, not paid yet as of D.
    Sub("s6", "future", date(2025, 7, 1), None, 100),
    # given: status/plan given (they describe today), history says active on basic.
    Sub("s8", "given", JAN1, None, 700),
    # tie: the highest MRR is shared by zeta and alpha → smallest plan id, alpha.
    Sub("s9a", "tie", JAN1, None, 1000, plan_id="zeta"),
    Sub("s9b", "tie", JAN1, None, 1000, plan_id="alpha"),
    Sub("s9c", "tie", JAN1, None, 500, plan_id="mid"),
    # face: 15.00 USD vs 1,000 JPY: compared by face value in major units, JPY wins.
    Sub("s10a", "face", JAN1, None, 1500, plan_id="usd_plan"),
    Sub("s10b", "face", JAN1, None, 1000, plan_id="jpy_plan", currency="JPY"),
    # paused_paying: a paused row and a paying row overlap → MRR > 0 wins: active.
    Sub("s11a", "paused_paying", JAN1, None, 0, plan_id="p0", status="paused"),
    Sub("s11b", "paused_paying", date(2025, 3, 1), None, 300, plan_id="p1"),
    # tie_end: two rows end together on Jun 1, one of them lapsed → lapsed.
    Sub("s12a", "tie_end", JAN1, date(2025, 6, 1), 200, status="cancelled"),
    Sub("s12b", "tie_end", JAN1, date(2025, 6, 1), 0, status="lapsed"),
    # start_d: starts paying ON D → active, tenure 0.
    Sub("s13", "start_d", D, None, 900),
    # paused_trial: a paused and a trialing row (both MRR 0) cover D → paused.
    Sub("s14a", "paused_trial", JAN1, None, 0, status="trialing"),
    Sub("s14b", "paused_trial", JAN1, None, 0, status="PAUSED"),
]
CUSTOMERS_ROWS = [
    c if c.id != "given" else Cust(id="given", status="cancelled", plan_id="given_plan")
    for c in CUSTOMERS_ROWS
]

# customer → (status, plan_id, paid_started_at, tenure_days, paying) as of D.
EXPECTED_ON_D: dict[str, tuple[Any, ...]] = {
    "active": ("active", "basic", JAN1, TENURE_FROM_JAN1, True),
    "paused": ("paused", "pro", JAN1, TENURE_FROM_JAN1, False),
    "trial": ("trialing", "basic", None, None, False),
    # lapsed keeps its paid start; tenure still counts from it (SPEC: days since paid start).
    "lapsed": ("lapsed", None, JAN1, TENURE_FROM_JAN1, False),
    # paid_started = Jan 1 2025 (the 2024 row had MRR 0).
    "cancelled": ("cancelled", None, JAN1, TENURE_FROM_JAN1, False),
    "future": (None, None, None, None, False),
    "none": (None, None, None, None, False),
    "given": ("active", "basic", JAN1, TENURE_FROM_JAN1, True),
    "tie": ("active", "alpha", JAN1, TENURE_FROM_JAN1, True),
    "face": ("active", "jpy_plan", JAN1, TENURE_FROM_JAN1, True),
    # p1 (300) outranks p0 (0); paid since Mar 1: 30 + 30 + 31 + 14 = 106 days.
    "paused_paying": ("active", "p1", date(2025, 3, 1), 106, True),
    "tie_end": ("lapsed", None, JAN1, TENURE_FROM_JAN1, False),
    "start_d": ("active", "basic", D, 0, True),
    "paused_trial": ("paused", "basic", None, None, False),
}


def _state(warehouse: Warehouse, scope: Scope, day: date, today: date) -> dict[str, dict[str, Any]]:
    expr = customer_state(
        scoped(warehouse, CUSTOMERS, scope),
        scoped(warehouse, SUBSCRIPTIONS, scope),
        day,
        today=today,
    )
    return {row["customer_id"]: row for row in warehouse.to_pyarrow(expr).to_pylist()}


@pytest.fixture
def scope(warehouse: Warehouse, new_scope) -> Scope:
    scope = new_scope()
    load(warehouse, scope, CUSTOMERS_ROWS, SUBS)
    return scope


def test_every_branch_on_a_past_day(warehouse: Warehouse, scope: Scope) -> None:
    state = _state(warehouse, scope, D, TODAY)
    assert set(state) == set(EXPECTED_ON_D)
    for customer_id, expected in EXPECTED_ON_D.items():
        row = state[customer_id]
        got = (
            row["status"],
            row["plan_id"],
            row["paid_started_at"],
            row["tenure_days"],
            row["paying"],
        )
        assert got == expected, customer_id


def test_given_status_and_plan_apply_today_only(warehouse: Warehouse, scope: Scope) -> None:
    on_today = _state(warehouse, scope, TODAY, TODAY)
    # given: today the given values stand (cancelled, given_plan) although MRR > 0.
    assert (on_today["given"]["status"], on_today["given"]["plan_id"]) == (
        "cancelled",
        "given_plan",
    )
    assert on_today["given"]["paying"] is True
    # absent given values are derived today too: future starts paying on Jul 1 → active, tenure 0.
    assert (on_today["future"]["status"], on_today["future"]["tenure_days"]) == ("active", 0)
    # trial's row ended Jul 1 (exclusive) with status trialing → cancelled (not lapsed).
    assert on_today["trial"]["status"] == "cancelled"


def test_churn_before_and_after(warehouse: Warehouse, scope: Scope) -> None:
    # "cancelled" pays 2025-01-01..2025-06-15: active the day before its end, cancelled on it.
    before = _state(warehouse, scope, date(2025, 6, 14), TODAY)["cancelled"]
    after = _state(warehouse, scope, D, TODAY)["cancelled"]
    assert (before["status"], before["plan_id"], before["tenure_days"]) == ("active", "basic", 164)
    assert (after["status"], after["plan_id"]) == ("cancelled", None)


def test_mrr_by_currency_keeps_currencies_apart(warehouse: Warehouse, scope: Scope) -> None:
    expr = mrr_by_currency(scoped(warehouse, SUBSCRIPTIONS, scope), D)
    rows = {
        (r["customer_id"], r["currency"]): r["mrr_minor"]
        for r in warehouse.to_pyarrow(expr).to_pylist()
    }
    # tie: 1000 + 1000 + 500 USD cents on D; face: 1500 USD cents and 1000 JPY apart.
    assert rows[("tie", "USD")] == 2500
    assert rows[("face", "USD")] == 1500
    assert rows[("face", "JPY")] == 1000
    # cancelled's row ends on D (exclusive): no MRR on D at all.
    assert ("cancelled", "USD") not in rows


def test_other_scopes_do_not_leak(warehouse: Warehouse, scope: Scope, new_scope) -> None:
    other = new_scope(livemode=True)
    load(
        warehouse,
        other,
        [Cust(id="active", created_at=datetime(2024, 1, 1))],
        [Sub("x", "active", JAN1, None, 5)],
    )
    assert set(_state(warehouse, other, D, TODAY)) == {"active"}
    assert _state(warehouse, scope, D, TODAY)["active"]["status"] == "active"
