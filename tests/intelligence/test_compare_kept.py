"""``GET /v1/cohorts/compare`` reads the last run's kept month while the data, the
cohorts and the day are the run's, and computes otherwise (``intelligence.kept``).

Dates are relative to today (T, UTC): L = the last complete month. EUR rows, the
organization's base currency USD:

- cohort "x" (``segments: [x]``): a pays 100 from L − 3, b pays 100 from L − 3 until the
  11th of L (churn in L);
- cohort "y": c pays 50 from L − 2.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.intelligence import service
from cohortd.warehouse import Scope

SIGNUP = datetime(2020, 1, 1)
COMPARE = "/v1/cohorts/compare"


def _month_start(offset: int) -> Any:
    return first_day(period_of(clock.today(), Interval.month) + offset, Interval.month)


@pytest.fixture
def cohorts(api_any: ApiHarness) -> dict[str, str]:
    api = api_any
    last, older = _month_start(-1), _month_start(-4)
    load(
        api.warehouse,
        Scope(api.org_id, livemode=False),
        [
            Cust("a", SIGNUP, segment="x"),
            Cust("b", SIGNUP, segment="x"),
            Cust("c", SIGNUP, segment="y"),
        ],
        [
            Sub("a1", "a", older, None, 100_00, currency="EUR"),
            Sub("b1", "b", older, last + timedelta(days=10), 100_00, currency="EUR"),
            Sub("c1", "c", _month_start(-3), None, 50_00, currency="EUR"),
        ],
    )
    ids = {}
    for name in ("x", "y"):
        created = api.client.post(
            "/v1/cohorts",
            headers=api.headers("test"),
            json={"name": name, "definition": {"segments": [name]}},
        )
        assert created.status_code == 201, created.text
        ids[name] = str(created.json()["id"])
    return ids


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the comparisons computed from the warehouse (not read from a run)."""
    calls: list[int] = []
    real: Callable[..., Any] = service.all_snapshots

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "all_snapshots", counted)
    return calls


def _get(api: ApiHarness, query: str = "") -> Any:
    answer = api.client.get(COMPARE + query, headers=api.headers("test"))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def _run(api: ApiHarness) -> None:
    started = api.client.post("/v1/snapshots/run", headers=api.headers("test"))
    assert started.status_code == 202, started.text
    done = api.client.get(f"/v1/snapshots/runs/{started.json()['id']}", headers=api.headers("test"))
    assert done.json()["status"] == "succeeded", done.text


def test_compare_reads_the_runs_month_until_something_changes(
    api_any: ApiHarness, cohorts: dict[str, str], computed: list[int]
) -> None:
    api = api_any
    before = _get(api)
    assert len(computed) == 1
    x = next(e for e in before if e["cohort_id"] == cohorts["x"])
    assert x["nrr"] == 50.0 and x["churn_count"] == 1  # 100 × (200 − 100) / 200

    _run(api)
    assert _get(api) == before  # from the run's kept month
    assert len(computed) == 1
    assert _get(api, "?cohort_type=custom") == before
    assert len(computed) == 1

    # another currency, another period: the kept month does not answer them
    _get(api, "?baseCurrency=EUR")
    _get(api, f"?period={_month_start(-2).isoformat()}")
    assert len(computed) == 3

    # a live write to month L: a expands by 30 EUR on L's 6th; the comparison follows
    upsert = {
        "id": "a2",
        "customer_id": "a",
        "plan_id": "addon",
        "currency": "EUR",
        "mrr": "30",
        "start_date": (_month_start(-1) + timedelta(days=5)).isoformat(),
    }
    written = api.client.post("/v1/subscriptions", json=upsert, headers=api.headers("test"))
    assert written.status_code == 200, written.text
    after = _get(api)
    assert len(computed) == 4
    x_after = next(e for e in after if e["cohort_id"] == cohorts["x"])
    assert x_after["nrr"] > x["nrr"] and x_after["ending_mrr"] > x["ending_mrr"]

    # a new run keeps the new month, equal to the computed one
    _run(api)
    assert _get(api) == after
    assert len(computed) == 4

    # a cohort changed after the run: computed again
    renamed = api.client.patch(
        f"/v1/cohorts/{cohorts['y']}",
        json={"definition": {"segments": ["x", "y"]}},
        headers=api.headers("test"),
    )
    assert renamed.status_code == 200, renamed.text
    changed = _get(api)
    assert len(computed) == 5
    y = next(e for e in changed if e["cohort_id"] == cohorts["y"])
    assert (
        y["starting_mrr"] > next(e for e in after if e["cohort_id"] == cohorts["y"])["starting_mrr"]
    )
