"""Invariants (Hypothesis) and the engine against the day-by-day reference, on random data.

Data lives in 2030-2031 with the organization's own rates only (from 2029-12-01, after
all ECB history), so the reference needs no ECB table.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohortd.reports.service import parse_query
from cohortd.warehouse import Scope, Warehouse
from tests.fixtures.example_small import Customer, Dataset, Stretch, load
from tests.reports.helpers import differences, params_of, run
from tests.reports.reference import RefQuery, reference_report

START = date(2030, 1, 1)
RATES_FROM = date(2029, 12, 1)
CURRENCIES = ["USD", "EUR", "GBP", "JPY"]
COUNTRIES = ["DE", "US", "JP", "CY", None]
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    customers: list[Customer] = []
    stretches: list[Stretch] = []
    for n in range(draw(st.integers(1, 6))):
        cid = f"c{n}"
        customers.append(
            Customer(
                id=cid,
                country=draw(st.sampled_from(COUNTRIES)),
                currency=draw(st.sampled_from([None, *CURRENCIES])),
            )
        )
        for _ in range(draw(st.integers(0, 3))):
            currency = draw(st.sampled_from(CURRENCIES))
            start = START + timedelta(days=draw(st.integers(0, 500)))
            length = draw(st.one_of(st.none(), st.integers(1, 300)))
            cents = draw(st.sampled_from([0, 1, 999, 2500, 10001, 123456]))
            mrr = str(cents) if currency == "JPY" else f"{cents // 100}.{cents % 100:02d}"
            end = None if length is None else start + timedelta(days=length)
            stretches.append(Stretch(cid, currency, mrr, start, end))
    # one rate per (day, currency), as an import keeps it; one on RATES_FROM (before any
    # period's first day, e.g. the Monday 2029-12-30 of a week holding 2030-01-01) makes
    # the latest rate on or before any day the report uses the organization's
    rates: dict[tuple[date, str], str] = {(RATES_FROM, c): "1.5" for c in CURRENCIES if c != "EUR"}
    for currency in CURRENCIES[:1] + CURRENCIES[2:]:
        observed = draw(
            st.lists(
                st.tuples(st.integers(0, 600), st.decimals("0.5", "200", places=4)),
                min_size=1,
                max_size=3,
            )
        )
        for offset, rate in observed:
            rates[(START + timedelta(days=offset), currency)] = str(rate)
    return Dataset(customers, stretches, [(day, c, r) for (day, c), r in rates.items()])


@st.composite
def queries(draw: st.DrawFn) -> RefQuery:
    return RefQuery(
        as_of=START + timedelta(days=draw(st.integers(0, 560))),
        interval=draw(st.sampled_from(["week", "month", "quarter", "year"])),
        base=draw(st.sampled_from(CURRENCIES)),
        breakdown=draw(st.sampled_from([None, "country", "currency"])),
        fix_fx=draw(st.booleans()),
        countries=draw(st.sampled_from([None, {"DE", "CY"}, {"US"}])),
    )


def _url(q: RefQuery, fmt: str = "list") -> str:
    url = f"?date={q.as_of}&interval={q.interval}&baseCurrency={q.base}&format={fmt}"
    url += f"&fix_fx={'true' if q.fix_fx else 'false'}"
    if q.breakdown:
        url += f"&breakdown={q.breakdown}"
    if q.countries:
        url += "&region=" + "+".join(sorted(q.countries))
    return url


def _loaded(warehouse: Warehouse, data: Dataset, noise: Dataset) -> Scope:
    """``data`` in a fresh test-mode scope; ``noise`` in its live mode and in another org."""
    org = f"org_{uuid.uuid4().hex}"
    scope = Scope(org, livemode=False)
    load(warehouse, scope, data)
    load(warehouse, Scope(org, livemode=True), noise)
    load(warehouse, Scope(f"org_{uuid.uuid4().hex}", livemode=False), noise)
    return scope


def _values(body: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {
        (row["cohort_group"], k): values
        for row in body["result"]["list"]
        for k, values in enumerate(row["periods"])
    }


@SETTINGS
@given(data=datasets(), noise=datasets(), q=queries())
def test_engine_matches_the_reference(
    warehouse: Warehouse, data: Dataset, noise: Dataset, q: RefQuery
) -> None:
    scope = _loaded(warehouse, data, noise)
    got = run(warehouse, scope, _url(q))
    # the same answer as the reference on ``data`` alone: other orgs and modes are unseen
    assert differences(got, reference_report(data, q), tolerance=0.0) == []
    for values in _values(got).values():
        assert values["customer_retention"] <= 100
        assert values["mrr_retained_gross"] <= values["mrr_retained"] + 0.01
    # list and chart carry the same numbers
    chart = run(warehouse, scope, _url(q, "chart"))
    from_chart = {
        (group, entry["period"]): {k: v for k, v in values.items() if k != "label"}
        for entry in chart["result"]
        for group, values in entry["breakdown"].items()
    }
    assert from_chart == _values(got)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=datasets(), q=queries())
def test_disjoint_filters_add_up(warehouse: Warehouse, data: Dataset, q: RefQuery) -> None:
    scope = _loaded(warehouse, data, Dataset())
    plain = RefQuery(q.as_of, q.interval, q.base, fix_fx=q.fix_fx)
    whole = run(warehouse, scope, _url(plain))["result"]["list"]
    parts = [
        run(warehouse, scope, _url(plain) + f"&currency={c}")["result"]["list"] for c in CURRENCIES
    ]

    def totals(rows: list[dict[str, Any]]) -> tuple[int, float]:
        cohorts = [r for r in rows if r["cohort_group"] != "average"]
        return sum(r["initial_customers"] for r in cohorts), sum(r["initial_mrr"] for r in cohorts)

    customers, mrr = totals(whole)
    assert sum(totals(p)[0] for p in parts) == customers
    # each part is rounded on its own: at most half a cent per cohort row apart
    slack = 0.005 * sum(len(p) for p in parts) + 1e-9
    assert abs(sum(totals(p)[1] for p in parts) - mrr) <= slack


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=datasets(), noise=datasets(), q=queries(), pick=st.integers(0, 1 << 30))
def test_the_whole_scope_sums_agree_with_the_segments(
    warehouse: Warehouse, data: Dataset, noise: Dataset, q: RefQuery, pick: int
) -> None:
    """A report of a whole scope (no filter, no breakdown) starts from the sums kept at
    import (``cohort_deltas``) and corrects the current period; it must equal both the
    reference and the same report computed from the segments. ``date`` falls on a
    stretch's first or last day, or the day before or after, as often as not: the
    corrections live there."""
    from unittest import mock

    from cohortd.engine import compiled, triangle

    days = [d for s in data.stretches for d in (s.start, s.end) if d is not None]
    as_of = q.as_of
    if days and pick % 2:
        as_of = days[pick // 2 % len(days)] + timedelta(days=pick // 7 % 3 - 1)
    q = RefQuery(max(as_of, START), q.interval, q.base, fix_fx=q.fix_fx)
    scope = _loaded(warehouse, data, noise)
    assert triangle.whole_scope(parse_query(params_of(_url(q)), default_currency="USD")[0])
    kept = run(warehouse, scope, _url(q))
    assert differences(kept, reference_report(data, q), tolerance=0.0) == []
    compiled.clear()  # the SQL is cached per parameters, not per path
    try:
        with mock.patch.object(triangle, "whole_scope", lambda query: False):
            assert run(warehouse, scope, _url(q)) == kept
    finally:
        compiled.clear()
