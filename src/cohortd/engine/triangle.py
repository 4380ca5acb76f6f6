"""The retention triangle as one query over the derived tables (issue #4, the fast form).

Inputs are ``engine.derived``'s tables, kept true at every import: ``customer_facts``
(the universe and its cohort sizes), ``paid_spells`` (counts) and ``mrr_segments``
(money); a report of a whole scope (no filter, breakdown or cohort restriction:
``whole_scope``) starts from ``cohort_deltas`` instead, the same differences summed at
import, and reads segments only for the current period's corrections and the gross that
depends on the report's rates (``engine.whole_scope``). Nothing is derived from the raw
subscriptions at report time. The query's building blocks are ``engine.triangle_blocks``
and its factors ``engine.factors``.

**Periods as integers.** A day range ``[start, end)`` covers the evaluation day of
period p (its last day, or ``as_of`` for the current period) iff ``first <= p <= hi``
with ``first = period(start)`` and ``hi`` the current period when the range runs on
``as_of``, else ``min(period(end), current) - 1`` (``ranged_periods``; the period
numbers are stored in the derived tables). A sum over
ranges per period is then a difference array: ``+x`` at ``first``, ``-x`` at
``hi + 1``, a running sum over p (a window), and each running value spread over the
periods until the next change (``range(0, n)`` unnested: dense rows per key, not per
customer).

**Money.** Amounts stay integer minor units per currency until they meet a conversion
factor. Factors (minor units of a currency → major units of the base currency, on the
day a value is measured) are computed exactly in Python (``engine.fx``, 50 significant
digits) and rounded up to ``FACTOR_SCALE`` decimal places into a small temp table;
SQL then multiplies and sums them as ``DECIMAL(38, 18)`` (DuckDB) / ``NUMERIC``
(PostgreSQL). A factor that is a terminating decimal (the base currency itself: exactly
0.01) is stored exactly; otherwise each product is over the exact value by less than
1e-18 × its minor units, never under (amounts and factors are positive), so a sum is
over by less than 1e-18 base units per minor unit summed (1e-6 of a base unit for a
trillion minor units), and rounding to 2 decimals happens once, at the end, in Python.
Rounding the factors up rather than to the nearest is what keeps an exact tie right: a
value that is exactly x.xx5 (123456 JPY at GBP/JPY = 2 / 1.5 is exactly 164608 GBP,
though 2 / 1.5 does not terminate) comes out a hair over the tie and rounds away from
zero as the SPEC says, where a factor rounded down would put it under
(``tests/reports/test_scenarios.py``). A money value can still round wrongly if its
exact value lies under a tie by less than that bound without being one (for a cell of
10⁸ minor units, within 10⁻¹⁰ under x.xx5: about one value in 10⁸ if they fall at
random); a percentage divides two such values and keeps a two-sided error of the same
order.

**Gross (GRR).** Each member's MRR on the day, capped at its own initial MRR, both
converted as reported. Each constant segment (level ``v``, member initial ``b``) is
classified once (``triangle_blocks.classified``):

- ``SIMPLE``, one currency converted with one factor for both (the base currency, or
  ``fix_fx``): ``min(v, b)`` in minor units, then converted: a difference array like
  the MRR;
- ``TRACK``, one foreign currency, ``v == b`` (the usual case: a member's first
  segment): ``b * min(F(p), F(paid start))``, from per-cohort running sums, each paid
  start read only in the periods whose rate lies inside the band of the cohort's own
  paid-start rates (``triangle_blocks.capped_parts``);
- one foreign currency, ``v != b``: ``UNDER`` (never capped: linear), ``OVER`` (always:
  the constant ``b * F(paid start)``), else ``AMBIGUOUS``, expanded per (segment,
  period) and compared exactly;
- ``MULTI``, several currencies: expanded per (member, period), converted sums compared.

A whole-scope report counts every one-currency foreign member by the default of its
level (``TRACK`` at the initial, ``OVER`` above it, ``UNDER`` below it) from the sums
kept at import, and reads one by one only the segments whose class differs
(``engine.whole_scope``).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from cohortd.engine.cohort_deltas import INITIAL, MONEY
from cohortd.engine.factors import with_factors
from cohortd.engine.periods import (
    stored_period,
)
from cohortd.engine.retention import ReportQuery
from cohortd.engine.triangle_blocks import (
    AMBIGUOUS,
    MULTI,
    SIMPLE,
    UNDER,
    ambiguous_part,
    capped_parts,
    classified,
    dense_levels,
    initial_part,
    period_deltas,
    ranged_periods,
    restricted,
    result_of,
    result_part,
    several_part,
    union_all,
    with_range,
)
from cohortd.engine.whole_scope import scope_deltas, whole_scope, whole_scope_triangle
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import (
    MRR_SEGMENTS,
    PAID_SPELLS,
)


def measured_pairs(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, *, covering: bool = False
) -> ir.Table:
    """``currency, ps``: the currencies of the universe's segments (``ps`` null) and every
    (currency, paid start) an initial MRR is converted on.

    A report converts only the segments that cover an evaluation day (and the paid
    starts): a currency met only between evaluation days needs no rate. The whole-scope
    form leaves such currencies out; the segment form names every currency of the
    universe (one cheap pass) unless ``covering``, which checks each segment's periods
    (twice the cost: ``report.factor_tables`` asks for it only when a currency has no
    rate)."""
    segments = restricted(warehouse, scope, MRR_SEGMENTS, query)
    if whole_scope(query):
        # mostly from the kept sums: a (cohort, currency) with a segment covering some
        # finished period's last day has a non-zero MONEY row (its earliest change is a
        # start); a segment covering none matters only if it starts or ends in the
        # current period (measured on ``as_of``), and those are read here with the
        # current cohort's. A currency no measured amount is in is left out.
        deltas = scope_deltas(warehouse, scope, query, upto_current=False)
        current, interval = query.current, query.interval
        earlier = deltas.filter((deltas.kind == MONEY) & (deltas.p0 < current))
        recent = segments.filter(  # paid start on or before as_of
            (segments.p0 == current)
            | (stored_period(segments, "start", interval) == current)
            | (stored_period(segments, "end", interval) == current)
        )
        starts = deltas.filter((deltas.kind == INITIAL) & (deltas.ps <= query.as_of))
        return union_all(
            [
                earlier.select(currency=earlier.currency.cast("string"), ps=ibis.null("date")),
                recent.select(currency=recent.currency.cast("string"), ps=ibis.null("date")),
                starts.select(currency=starts.currency.cast("string"), ps=starts.ps.cast("date")),
            ]
        ).distinct()
    if covering:  # the segments measured on some evaluation day, and the paid starts
        ranged = with_range(segments, query)
        segments = ranged.filter(
            (ranged.hi >= ranged.first) | (ranged.start_date == ranged.paid_started_at)
        )
    at_start = segments.start_date == segments.paid_started_at
    return segments.select(
        "currency", ps=ibis.ifelse(at_start, segments.paid_started_at, ibis.null("date"))
    ).distinct()


def triangle(
    warehouse: Warehouse,
    scope: Scope,
    query: ReportQuery,
    by_period: ir.Table,
    by_day: ir.Table,
) -> ir.Table:
    """``grp, p0, p, customers, mrr, gross, initial``: every sum the report needs, in one
    expression (``initial`` on the row p = p0; a sum with no rows is null).

    ``by_period``/``by_day`` are the factor tables (``Factors``) as warehouse tables."""
    if whole_scope(query):
        return whole_scope_triangle(warehouse, scope, query, by_period, by_day)
    current = query.current
    segments = restricted(warehouse, scope, MRR_SEGMENTS, query)
    spells = restricted(warehouse, scope, PAID_SPELLS, query)
    ranged = classified(ranged_periods(segments, query), by_period, by_day, query)
    v, b, cls = ranged.level_minor, ranged.initial_minor, ranged.cls
    parts: list[ir.Table] = []

    # retained customers: the paid spells covering each evaluation day
    # the group is a key only with a breakdown (a constant one still costs hashing)
    group = ["grp"] if query.grouped else []
    keys = [*group, "p0"]
    counts = period_deltas([(ranged_periods(spells, query), {"n": ibis.literal(1)})], keys, current)
    counts = dense_levels(counts, keys, current)
    parts.append(result_part(counts, customers=counts.n))

    # MRR, and the gross that is linear in the level (SIMPLE: min(v, b); UNDER: v)
    keys = [*group, "p0", "currency"]
    glin = ibis.cases((cls == SIMPLE, ibis.least(v, b)), (cls == UNDER, v), else_=0)
    linear = period_deltas([(ranged, {"lm": v, "lg": glin})], keys, current)
    linear = with_factors(dense_levels(linear, keys, current), by_period, by_day, query, day=None)
    parts.append(result_part(linear, mrr=linear.lm * linear.f, gross=linear.lg * linear.f))

    # TRACK and OVER (none with fix_fx: one factor for all, every segment is SIMPLE)
    if not query.fix_fx:
        parts.extend(capped_parts(ranged, group, by_period, by_day, query))

    parts.append(ambiguous_part(ranged.filter(cls == AMBIGUOUS), by_period, by_day, query))
    parts.append(several_part(segments, ranged.filter(cls == MULTI), by_period, by_day, query))

    # initial MRR: the segments that start on the paid start, at its rate
    first = segments.filter(segments.start_date == segments.paid_started_at)
    first = first.group_by(["grp", "p0", "currency", "paid_started_at"]).agg(
        b=first.level_minor.sum()
    )
    parts.append(initial_part(first, by_period, by_day, query))
    return result_of(parts)
