"""A slow, obvious SPEC §8 reference: every customer, every period, in plain Python.

Rates come from a dict ``{currency: [(day, rate), ...]}`` (units per EUR, ascending);
the rate of day d is the latest on or before d, before the first the first. The
target currency is EUR, so converting X minor units of C on d is
``X / 10**exponent(C) / rate(C, d)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, localcontext

from cohortd.engine.money import exponent
from cohortd.engine.movement_model import Window
from tests.engine.state_rows import Sub

Rates = dict[str, list[tuple[date, Decimal]]]


def rate(rates: Rates, currency: str, day: date) -> Decimal:
    if currency == "EUR":
        return Decimal(1)
    found = rates[currency][0][1]
    for since, value in rates[currency]:
        if since <= day:
            found = value
    return found


def mrr_by_currency(subs: Sequence[Sub], customer: str, day: date) -> dict[str, int]:
    totals: dict[str, int] = {}
    for s in subs:
        if s.customer_id == customer and s.start <= day and (s.end is None or day < s.end):
            totals[s.currency] = totals.get(s.currency, 0) + s.mrr_minor
    return totals


def converted(amounts: dict[str, int], rates: Rates, day: date) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return sum(
            (Decimal(v).scaleb(-exponent(c)) / rate(rates, c, day) for c, v in amounts.items()),
            Decimal(0),
        )


def reference_period(
    customers: Sequence[str],
    subs: Sequence[Sub],
    rates: Rates,
    window: Window,
    previous_rate_day: date,
) -> dict[str, Decimal | int]:
    """The sums and counts of one period (unrounded)."""
    s_day = window.start - timedelta(days=1)
    totals: dict[str, Decimal | int] = {
        k: Decimal(0)
        for k in (
            "starting",
            "mrr",
            "new",
            "reactivation",
            "expansion",
            "contraction",
            "churn",
            "fx_base",
        )
    } | {"customers": 0, "paying_at_start": 0, "new_n": 0, "reactivation_n": 0, "churn_n": 0}
    for c in customers:
        paid = min((x.start for x in subs if x.customer_id == c and x.mrr_minor > 0), default=None)
        at_s = mrr_by_currency(subs, c, s_day)
        at_e = mrr_by_currency(subs, c, window.end)
        s = converted(at_s, rates, window.end)
        e = converted(at_e, rates, window.end)
        totals["starting"] += s
        totals["mrr"] += e
        totals["fx_base"] += converted(at_s, rates, previous_rate_day)
        totals["customers"] += int(e > 0)
        totals["paying_at_start"] += int(s > 0)
        if s > 0 and e == 0:
            totals["churn"] += s
            totals["churn_n"] += 1
        elif s == 0 and e > 0:
            kind = (
                "new"
                if paid is not None and window.start <= paid <= window.last
                else "reactivation"
            )
            totals[kind] += e
            totals[f"{kind}_n"] += 1
        elif e > s:
            totals["expansion"] += e - s
        elif s > e:
            totals["contraction"] += s - e
    return totals
