"""Property test: whatever the seed, size and window, every row keeps the invariants."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohortd.demo import generate
from cohortd.engine.money import to_minor_units


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(1, 120),
    seed=st.integers(0, 2**32),
    start=st.dates(date(1990, 1, 1), date(2030, 1, 1)),
    days=st.integers(1, 4_000),
)
def test_rows_keep_the_invariants(customers: int, seed: int, start: date, days: int) -> None:
    end = start + timedelta(days=days)
    data = generate(customers=customers, seed=seed, start=start, end=end)
    assert data.customers.num_rows == customers
    created = {c["id"]: c["created_at"][:10] for c in data.customers.to_pylist()}
    assert all(start.isoformat() <= day <= end.isoformat() for day in created.values())
    lines: dict[tuple[str, bool], list[dict[str, str | None]]] = defaultdict(list)
    for row in data.subscriptions.to_pylist():
        assert created[row["customer_id"]] <= row["start_date"] <= end.isoformat()
        assert row["end_date"] is None or row["start_date"] < row["end_date"] <= end.isoformat()
        minor = to_minor_units(row["mrr"], row["currency"])
        assert (minor == 0) == (row["status"] in ("trialing", "paused"))
        assert row["end_date"] is not None or row["status"] not in ("cancelled", "lapsed")
        lines[row["customer_id"], row["plan_id"].startswith("addon_")].append(row)
    for rows in lines.values():
        for before, after in pairwise(sorted(rows, key=lambda r: r["start_date"])):
            assert before["end_date"] is not None
            assert before["end_date"] <= after["start_date"]
