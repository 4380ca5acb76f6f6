"""Property: any sequence of live writes leaves every derived table equal, row for row,
to a full rebuild from the canonical tables, the monthly movements kept in them equal to
those of the segments, and every report equal to that of a fresh load of the final rows.
One body, both backends (the ``warehouse`` fixture)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohortd.engine import derived
from cohortd.engine.metrics import Granularity, windows
from cohortd.engine.monthly import kept_movements
from cohortd.engine.movements import cohort_movements
from cohortd.errors import AppError
from cohortd.subscriptions import service
from cohortd.subscriptions.rules import OverrideKind
from cohortd.subscriptions.schemas import (
    CancelBody,
    ChangePlanBody,
    PauseBody,
    ResumeBody,
    SubscriberCreate,
    SubscriptionUpsert,
)
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, DERIVED_TABLES, SUBSCRIPTIONS
from tests.engine.state_rows import Cust, Sub, load
from tests.reports.helpers import differences, run
from tests.subscriptions.helpers import stored_rows

D0 = date(2024, 1, 1)
CUSTOMERS_POOL = ["c0", "c1", "c2", "c3"]
ROW_IDS = ["r0", "r1", "r2", "r3", "r4"]


def _day(offset: int) -> str:
    return (D0 + timedelta(days=offset)).isoformat()


upserts = st.builds(
    lambda row, customer, currency, mrr, start, length: (
        "upsert",
        SubscriptionUpsert(
            id=row,
            customer_id=customer,
            currency=currency,
            mrr=mrr,
            start_date=_day(start),
            end_date=None if length is None else _day(start + length),
            plan_id=f"p{mrr}",
        ),
    ),
    st.sampled_from(ROW_IDS),
    st.sampled_from(CUSTOMERS_POOL),
    st.sampled_from(["USD", "EUR"]),
    st.sampled_from(["0", "10", "25.50", "99"]),
    st.integers(0, 400),
    st.none() | st.integers(1, 300),
)
overrides = st.builds(
    lambda kind, pick, day, mrr, resume: ("override", kind, pick, day, mrr, resume),
    st.sampled_from(list(OverrideKind)),
    st.integers(0, 50),
    st.integers(0, 700),
    st.sampled_from(["0", "12", "40"]),
    st.none() | st.integers(1, 90),
)
creates = st.builds(lambda n: ("create", SubscriberCreate(id=f"n{n}")), st.integers(0, 2))
operations = st.lists(st.one_of(upserts, overrides, creates), min_size=1, max_size=6)


def _apply(warehouse: Warehouse, scope: Scope, operation: tuple[Any, ...]) -> None:
    """One write; a rejected one (422, 404, 409) must simply change nothing."""
    try:
        match operation:
            case ("upsert", body):
                service.upsert_subscription(warehouse, scope, body)
            case ("create", body):
                service.create_subscriber(warehouse, scope, body)
            case ("override", kind, pick, day, mrr, resume):
                table = scoped(warehouse, SUBSCRIPTIONS, scope)
                ids = sorted(warehouse.to_pyarrow(table.select("id")).column("id").to_pylist())
                if not ids:
                    return
                target = ids[pick % len(ids)]
                effective = _day(day)
                body: Any = {
                    OverrideKind.cancel: CancelBody(effective_date=effective),
                    OverrideKind.resume: ResumeBody(effective_date=effective),
                    OverrideKind.pause: PauseBody(
                        effective_date=effective,
                        resume_date=None if resume is None else _day(day + resume),
                    ),
                    OverrideKind.change_plan: ChangePlanBody(
                        effective_date=effective, plan_id=f"q{mrr}", mrr=mrr
                    ),
                }[kind]
                service.override(warehouse, scope, target, kind, body)
    except AppError as error:
        assert error.status in (404, 409, 422), error


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=operations)
def test_live_writes_equal_a_full_rebuild(
    warehouse: Warehouse, new_scope: Any, steps: list[tuple[Any, ...]]
) -> None:
    scope = new_scope()
    load(
        warehouse,
        scope,
        [Cust(c, currency="USD" if c != "c3" else None, country="DE") for c in CUSTOMERS_POOL],
        [
            Sub("r0", "c0", D0, date(2024, 6, 1), 1000, plan_id="a"),
            Sub("r1", "c1", date(2024, 2, 10), None, 2500, plan_id="b", currency="EUR"),
            Sub("r2", "c1", date(2024, 3, 1), date(2024, 9, 1), 0, status="trialing"),
        ],
    )
    for step in steps:
        _apply(warehouse, scope, step)

    live = stored_rows(warehouse, scope, DERIVED_TABLES)
    months = windows(Granularity.month, D0, date(2025, 12, 31), cut=date(2025, 12, 31))
    kept = kept_movements(warehouse, scope, periods=months, currency="USD").series()
    with warehouse.transaction():
        derived.refresh(warehouse, scope)
    assert stored_rows(warehouse, scope, DERIVED_TABLES) == live
    # the monthly metrics from the sums the writes kept equal those from the segments
    segments = cohort_movements(warehouse, scope, members=None, periods=months, currency="USD")
    assert kept == segments.series()

    # a fresh scope loaded with the final canonical rows gives the same reports
    fresh = new_scope()
    for name in (CUSTOMERS, SUBSCRIPTIONS):
        rows = warehouse.to_pyarrow(scoped(warehouse, name, scope))
        if rows.num_rows:
            rows = rows.set_column(0, "org_id", [[fresh.org_id] * rows.num_rows])
            warehouse.insert_arrow(name, rows)
    with warehouse.transaction():
        derived.refresh(warehouse, fresh)
    query = "interval=month&date=2025-06-30"
    assert (
        differences(run(warehouse, scope, query), run(warehouse, fresh, query), tolerance=0.0) == []
    )


@pytest.mark.parametrize("kind", list(OverrideKind))
def test_each_override_alone_equals_a_rebuild(
    warehouse: Warehouse, new_scope: Any, kind: OverrideKind
) -> None:
    """A hand-picked case per override (a paused row to resume included)."""
    scope = new_scope()
    load(
        warehouse,
        scope,
        [Cust("c0", currency="USD")],
        [
            Sub("r0", "c0", D0, date(2024, 3, 1), 1000, plan_id="a"),
            Sub("r1", "c0", date(2024, 3, 1), None, 0, plan_id="a", status="paused"),
        ],
    )
    body: Any = {
        OverrideKind.cancel: ("r0", CancelBody(effective_date="2024-02-01")),
        OverrideKind.pause: (
            "r0",
            PauseBody(effective_date="2024-02-01", resume_date="2024-02-15"),
        ),
        OverrideKind.resume: ("r1", ResumeBody(effective_date="2024-04-01")),
        OverrideKind.change_plan: (
            "r0",
            ChangePlanBody(effective_date="2024-02-01", plan_id="b", mrr="30"),
        ),
    }[kind]
    service.override(warehouse, scope, body[0], kind, body[1])
    live = stored_rows(warehouse, scope, DERIVED_TABLES)
    with warehouse.transaction():
        derived.refresh(warehouse, scope)
    assert stored_rows(warehouse, scope, DERIVED_TABLES) == live
