"""A slow, obviously-correct reference of SPEC §2, written straight from its sentences.

Day by day, no SQL, no integer period tricks: calendar periods are walked one day at a
time, MRR is summed row by row, every amount converted with ``Decimal``. Only for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from tests.fixtures.example_small import Customer, Dataset, Stretch

DAY = timedelta(days=1)


@dataclass(frozen=True)
class RefQuery:
    as_of: date
    interval: str  # week, month, quarter, year
    base: str
    breakdown: str | None = None
    fix_fx: bool = False
    countries: set[str] | None = None
    currencies: set[str] | None = None


def period_start(day: date, interval: str) -> date:
    """The first day of the calendar period holding ``day`` (walking back day by day)."""

    def same(a: date, b: date) -> bool:
        if interval == "week":
            return a.isocalendar()[:2] == b.isocalendar()[:2]
        if interval == "month":
            return (a.year, a.month) == (b.year, b.month)
        if interval == "quarter":
            return (a.year, (a.month - 1) // 3) == (b.year, (b.month - 1) // 3)
        return a.year == b.year

    start = day
    while same(start - DAY, day):
        start -= DAY
    return start


def period_end(day: date, interval: str) -> date:
    end = day
    while period_start(end + DAY, interval) == period_start(day, interval):
        end += DAY
    return end


class Rates:
    def __init__(self, rates: list[tuple[date, str, str]]) -> None:
        self.rates = sorted((d, c, Decimal(r)) for d, c, r in rates)

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == "EUR":
            return Decimal(1)
        mine = [(d, r) for d, c, r in self.rates if c == currency]
        if not mine:
            raise KeyError(currency)
        before = [r for d, r in mine if d <= day]
        return before[-1] if before else mine[0][1]

    def convert(self, amount: Decimal, source: str, target: str, day: date) -> Decimal:
        if source == target:
            return amount
        with localcontext() as ctx:
            ctx.prec = 60
            return amount * self.rate(target, day) / self.rate(source, day)


def _amount(row: Stretch) -> Decimal:
    return Decimal(row.mrr)


def mrr_on(rows: list[Stretch], day: date, base: str, rates: Rates, rate_day: date) -> Decimal:
    """A customer's MRR on ``day`` (rows with start <= day < end), at ``rate_day``'s rates."""
    total = Decimal(0)
    for row in rows:
        if row.start <= day and (row.end is None or day < row.end):
            total += rates.convert(_amount(row), row.currency, base, rate_day)
    return total


def paid_started(rows: list[Stretch]) -> date | None:
    """The first day on which the MRR is > 0, found by walking the days."""
    if not rows:
        return None
    day, last = min(r.start for r in rows), max((r.end or r.start) for r in rows)
    while day <= last + DAY:
        if any(r.start <= day and (r.end is None or day < r.end) and _amount(r) > 0 for r in rows):
            return day
        day += DAY
    return None


def billing_currency(customer: Customer, rows: list[Stretch]) -> str | None:
    if customer.currency:
        return customer.currency
    ordered = sorted(rows, key=lambda r: (r.start, r.id))
    return ordered[0].currency if ordered else None


@dataclass
class Member:
    id: str
    group: str
    p0: date  # first day of the cohort period
    ps: date
    rows: list[Stretch]


def universe(data: Dataset, q: RefQuery) -> list[Member]:
    found = []
    for customer in data.customers:
        # the loader names unnamed rows sub_<index>: the tie-break of billing_currency
        rows = [
            replace(r, id=r.id or f"sub_{i:06d}")
            for i, r in enumerate(data.stretches)
            if r.customer_id == customer.id
        ]
        ps = paid_started(rows)
        if ps is None or ps > q.as_of:
            continue
        currency = billing_currency(customer, rows)
        if q.countries is not None and (customer.country or "").upper() not in q.countries:
            continue
        if q.currencies is not None and (currency or "").upper() not in q.currencies:
            continue
        group = ""
        if q.breakdown == "country":
            group = customer.country.upper() if customer.country else "unknown"
        elif q.breakdown == "currency":
            group = currency or "unknown"
        found.append(Member(customer.id, group, period_start(ps, q.interval), ps, rows))
    return found


@dataclass
class Series:
    initial_customers: int
    initial_mrr: Decimal
    periods: list[dict[str, Any]]  # customers, mrr, gross, complete


def cohort_series(members: list[Member], p0: date, q: RefQuery, rates: Rates) -> Series:
    fixed = p0  # fix_fx: the first day of P0

    def rate_day(day: date) -> date:
        return fixed if q.fix_fx else day

    initial = {m.id: mrr_on(m.rows, m.ps, q.base, rates, rate_day(m.ps)) for m in members}
    periods = []
    start = p0
    current = period_start(q.as_of, q.interval)
    while start <= current:
        last = period_end(start, q.interval)
        e = min(last, q.as_of)
        values = {m.id: mrr_on(m.rows, e, q.base, rates, rate_day(e)) for m in members}
        periods.append(
            {
                "customers": sum(1 for v in values.values() if v > 0),
                "mrr": sum(values.values(), Decimal(0)),
                "gross": sum((min(values[i], initial[i]) for i in values), Decimal(0)),
                "complete": e == last,
            }
        )
        start = last + DAY
    return Series(len(members), sum(initial.values(), Decimal(0)), periods)


def _round(x: Decimal) -> float:
    return float(x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _pct(a: Decimal | int, b: Decimal | int) -> Decimal:
    return Decimal(0) if b == 0 else Decimal(100) * Decimal(a) / Decimal(b)


def pooled_periods(series: list[Series]) -> list[dict[str, Any]]:
    out = []
    length = max((len(s.periods) for s in series), default=0)
    for k in range(length):
        c_k = [s for s in series if len(s.periods) > k]
        init_c = sum(s.initial_customers for s in c_k)
        init_m = sum((s.initial_mrr for s in c_k), Decimal(0))
        cus = sum(s.periods[k]["customers"] for s in c_k)
        mrr = sum((s.periods[k]["mrr"] for s in c_k), Decimal(0))
        gross = sum((s.periods[k]["gross"] for s in c_k), Decimal(0))
        prev_c = init_c if k == 0 else sum(s.periods[k - 1]["customers"] for s in c_k)
        prev_m = init_m if k == 0 else sum((s.periods[k - 1]["mrr"] for s in c_k), Decimal(0))

        def churn(p: Decimal, denominator: Decimal | int) -> float:
            return 0.0 if denominator == 0 else _round(Decimal(100) - p)

        out.append(
            {
                "mrr_retained": _round(mrr),
                "customers_retained": cus,
                "mrr_retention": _round(_pct(mrr, init_m)),
                "customer_retention": _round(_pct(cus, init_c)),
                "mrr_retention_relative": _round(_pct(mrr, prev_m)),
                "customer_retention_relative": _round(_pct(cus, prev_c)),
                "mrr_churn": churn(_pct(mrr, init_m), init_m),
                "customer_churn": churn(_pct(cus, init_c), init_c),
                "mrr_churn_relative": churn(_pct(mrr, prev_m), prev_m),
                "customer_churn_relative": churn(_pct(cus, prev_c), prev_c),
                "complete": all(s.periods[k]["complete"] for s in c_k),
                "mrr_retained_gross": _round(gross),
                "mrr_retention_gross": _round(_pct(gross, init_m)),
            }
        )
    return out


def reference_report(data: Dataset, q: RefQuery) -> dict[str, Any]:
    """The list-format body of SPEC §2 for ``data`` and ``q``."""
    rates = Rates(data.rates)
    members = universe(data, q)
    current = period_start(q.as_of, q.interval)
    rows: list[dict[str, Any]] = []
    every: list[Series] = []
    if q.breakdown is None and members:
        start = min(m.p0 for m in members)
        while start <= current:
            inside = [m for m in members if m.p0 == start]
            s = cohort_series(inside, start, q, rates)
            rows.append(_row(period_end(start, q.interval).isoformat(), [s]))
            if inside:
                every.append(s)
            start = period_end(start, q.interval) + DAY
    elif q.breakdown is not None:
        groups: dict[str, list[Series]] = {}
        for group in sorted({m.group for m in members}):
            mine = [m for m in members if m.group == group]
            groups[group] = [
                cohort_series([m for m in mine if m.p0 == p0], p0, q, rates)
                for p0 in sorted({m.p0 for m in mine})
            ]
            every += groups[group]
        ordered = sorted(groups.items(), key=lambda kv: (-sum(s.initial_mrr for s in kv[1]), kv[0]))
        rows = [_row(name, series) for name, series in ordered]
    rows.append({"cohort_group": "average", "periods": pooled_periods(every)})
    return {
        "interval": q.interval,
        "breakdown": q.breakdown,
        "currency": q.base,
        "result": {"list": rows},
    }


def _row(name: str, series: list[Series]) -> dict[str, Any]:
    return {
        "cohort_group": name,
        "initial_mrr": _round(sum((s.initial_mrr for s in series), Decimal(0))),
        "initial_customers": sum(s.initial_customers for s in series),
        "periods": pooled_periods(series),
    }
