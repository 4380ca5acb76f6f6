"""The cohort retention report (SPEC §2) as Ibis expressions over scoped tables.

Shape of the computation (the "fast form" of issue #4):

1. ``members``: the universe, one row per customer with its group (breakdown value),
   its cohort period ``p0`` and its ``paid_started_at``.
2. Every paying subscription stretch [start, end) of a member becomes an integer
   period range: it covers the last day of period p iff
   ``period(start) <= p <= period(end) - 1`` (open end: every period). The current
   period is measured on ``as_of`` itself (covered iff ``start <= as_of < end``). The
   ranges are expanded on integers into per-(customer, period, currency) MRR.
3. Amounts stay in integer minor units per currency in SQL. Exchange rates are needed
   only per (currency, evaluation day) — a tiny set — and are applied in Python with
   exact ``Decimal`` factors (``engine.fx.RateBook``). The only per-customer use of a
   rate is the gross cap ("MRR capped at its own initial MRR"), which compares each
   member's converted MRR with its converted initial MRR in SQL; the capped amounts are
   then summed exactly like everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from cohortd.engine.facts import billing_currency, paid_started
from cohortd.engine.periods import Interval, open_end_period, period_of, period_of_expr
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SUBSCRIPTIONS

UNKNOWN = "unknown"
NO_GROUP = ""  # the one group of a time-based report


class Breakdown(StrEnum):
    """Categorical cohorts: one per value of the customer's field."""

    country = "country"
    currency = "currency"


@dataclass(frozen=True)
class Filters:
    """Universe filters: ``None`` = not filtered; tokens match whole values, any case.

    ``countries`` holds upper-case alpha-2 codes (regions already expanded).
    """

    countries: frozenset[str] | None = None
    currencies: frozenset[str] | None = None
    industries: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    sizes: frozenset[str] | None = None


@dataclass(frozen=True)
class ReportQuery:
    """Everything that shapes one report."""

    as_of: date
    interval: Interval
    base_currency: str
    breakdown: Breakdown | None = None
    fix_fx: bool = False
    filters: Filters = field(default_factory=Filters)
    members: ir.Table | None = None  # optional restriction: a table with ``customer_id``

    @property
    def current(self) -> int:
        """The number of the current period (the one holding ``as_of``)."""
        return period_of(self.as_of, self.interval)


def _matches(column: ir.StringValue, tokens: frozenset[str] | None) -> ir.BooleanValue | None:
    if tokens is None:
        return None
    # a customer missing the field never matches (NULL is not in any list)
    return column.lower().isin(sorted({t.lower() for t in tokens}))


def members(warehouse: Warehouse, scope: Scope, query: ReportQuery) -> ir.Table:
    """``customer_id, grp, p0, ps``: the universe with group, cohort period, paid start."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    paid = paid_started(subscriptions)
    paid = paid.filter(paid.paid_started_at <= query.as_of)
    billing = billing_currency(customers, subscriptions)
    base = customers.select("id", "country", "industry", "channel", "size")
    joined = base.join(paid, base.id == paid.customer_id).join(
        billing, base.id == billing.customer_id
    )
    f = query.filters
    conditions = [
        _matches(joined.country, f.countries),
        _matches(joined.currency, f.currencies),
        _matches(joined.industry, f.industries),
        _matches(joined.channel, f.channels),
        _matches(joined["size"], f.sizes),
    ]
    for condition in conditions:
        if condition is not None:
            joined = joined.filter(condition)
    if query.members is not None:
        joined = joined.semi_join(query.members, joined.id == query.members.customer_id)
    match query.breakdown:
        case None:
            group = ibis.literal(NO_GROUP)
        case Breakdown.country:
            group = joined.country.upper().fill_null(UNKNOWN)
        case Breakdown.currency:
            group = joined.currency.fill_null(UNKNOWN)
    return joined.select(
        customer_id=joined.id,
        grp=group,
        p0=period_of_expr(joined.paid_started_at, query.interval),
        ps=joined.paid_started_at,
    )


def paying_stretches(warehouse: Warehouse, scope: Scope, query: ReportQuery) -> ir.Table:
    """Members' paying rows that start on or before ``as_of``, with their member facts."""
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    paying = subscriptions.filter(
        (subscriptions.mrr_minor > 0) & (subscriptions.start_date <= query.as_of)
    )
    universe = members(warehouse, scope, query)
    joined = paying.join(universe, paying.customer_id == universe.customer_id)
    return joined.select(
        customer_id=universe.customer_id,
        grp=universe.grp,
        p0=universe.p0,
        ps=universe.ps,
        currency=joined.currency,
        mrr_minor=joined.mrr_minor,
        start_date=joined.start_date,
        end_date=joined.end_date,
    )


def initial_mrr(stretches: ir.Table) -> ir.Table:
    """``customer_id, grp, p0, ps, currency, b``: each member's MRR on its paid start."""
    covering = stretches.filter(
        (stretches.start_date <= stretches.ps)
        & (stretches.end_date.isnull() | (stretches.end_date > stretches.ps))
    )
    return covering.group_by(["customer_id", "grp", "p0", "ps", "currency"]).agg(
        b=covering.mrr_minor.sum()
    )


def period_mrr(stretches: ir.Table, query: ReportQuery) -> ir.Table:
    """``customer_id, grp, p0, ps, p, currency, a``: MRR on each period's evaluation day.

    Past periods (p < current) are measured on their last day, the current one on
    ``as_of``; only (customer, period) pairs with MRR > 0 appear.
    """
    current = query.current
    first = period_of_expr(stretches.start_date, query.interval)
    last = open_end_period(stretches.end_date, query.interval, beyond=current) - 1
    last = ibis.least(last, ibis.literal(current - 1, "int64"))
    spans = stretches.mutate(first=first, width=last - first + 1)
    spans = spans.filter(spans.width > 0)
    # range(0, width) + first: ibis 12 renders range(first, stop) on PostgreSQL with a
    # precedence bug (stop - a - 1 instead of stop - (a - 1)); a zero start avoids it.
    past = spans.mutate(p=spans.first + ibis.range(0, spans.width).unnest())
    running = stretches.filter(
        stretches.end_date.isnull() | (stretches.end_date > query.as_of)
    ).mutate(p=ibis.literal(current, "int64"))
    columns = ["customer_id", "grp", "p0", "ps", "p", "currency", "mrr_minor"]
    both = past.select(*columns).union(running.select(*columns), distinct=False)
    return both.group_by(["customer_id", "grp", "p0", "ps", "p", "currency"]).agg(
        a=both.mrr_minor.sum()
    )


def factor_table(rows: dict[str, list[object]], key_type: str) -> ir.Table:
    """A small in-memory table ``currency, key, f`` of float factors for the gross cap."""
    arrow_type = pa.date32() if key_type == "date" else pa.int64()
    return ibis.memtable(
        pa.table(
            {
                "currency": pa.array(rows["currency"], pa.string()),
                "key": pa.array(rows["key"], arrow_type),
                "f": pa.array(rows["f"], pa.float64()),
            }
        )
    )


@dataclass(frozen=True)
class GrossParts:
    """The expressions whose results make the gross (capped) triangle and the counts."""

    counts: ir.Table  # grp, p0, p, customers
    retained: ir.Table  # grp, p0, p, currency, capped, a
    capped_initial: ir.Table  # grp, p0, p, ps, currency, b


def capped_flags(
    amounts: ir.Table,
    initial: ir.Table,
    *,
    period_factors: ir.Table,
    initial_factors: ir.Table,
    period_key: str,
    initial_key: str,
) -> ir.Table:
    """``customer_id, grp, p0, p, capped``: is the member's converted MRR in period p above
    its converted initial MRR?

    ``period_factors``/``initial_factors`` are ``currency, key, f`` tables joined on
    ``amounts[period_key]`` / ``initial[initial_key]``. Float factors only decide the
    comparison (a near-tie picks either of two equal amounts); the sums stay exact.
    """
    a = amounts.join(
        period_factors,
        [
            amounts.currency == period_factors.currency,
            amounts[period_key] == period_factors.key,
        ],
    )
    per_period = a.group_by(["customer_id", "grp", "p0", "p"]).agg(
        a_conv=(a.a.cast("float64") * a.f).sum()
    )
    b = initial.join(
        initial_factors,
        [
            initial.currency == initial_factors.currency,
            initial[initial_key] == initial_factors.key,
        ],
    )
    per_member = b.group_by("customer_id").agg(b_conv=(b.b.cast("float64") * b.f).sum())
    return per_period.join(per_member, "customer_id").select(
        "customer_id", "grp", "p0", "p", capped=per_period.a_conv > per_member.b_conv
    )


def gross_parts(amounts: ir.Table, initial: ir.Table, flagged: ir.Table) -> GrossParts:
    """Counts, MRR split by capped/uncapped, and the capped members' initial MRR."""
    counts = flagged.group_by(["grp", "p0", "p"]).agg(customers=flagged.count())
    tagged = amounts.join(flagged.select("customer_id", "p", "capped"), ["customer_id", "p"])
    retained = tagged.group_by(["grp", "p0", "p", "currency", "capped"]).agg(a=tagged.a.sum())
    capped = flagged.filter(flagged.capped).select("customer_id", "p")
    capped_b = initial.join(capped, "customer_id")
    capped_initial = capped_b.group_by(["grp", "p0", "p", "ps", "currency"]).agg(b=capped_b.b.sum())
    return GrossParts(counts=counts, retained=retained, capped_initial=capped_initial)
