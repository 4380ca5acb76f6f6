"""The retention triangle as one query over the derived tables (issue #4, the fast form).

Inputs are ``engine.derived``'s tables, kept true at every import: ``customer_facts``
(the universe and its cohort sizes), ``paid_spells`` (counts) and ``mrr_segments``
(money); a report of a whole scope (no filter, breakdown or cohort restriction:
``whole_scope``) starts from ``cohort_deltas`` instead, the same differences summed at
import, and reads segments only for the current period's corrections and the gross that
depends on the report's rates (``_whole_scope_triangle``). Nothing is derived from the
raw subscriptions at report time.

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
classified once (``_classified``):

- ``SIMPLE``, one currency converted with one factor for both (the base currency, or
  ``fix_fx``): ``min(v, b)`` in minor units, then converted: a difference array like
  the MRR;
- ``TRACK``, one foreign currency, ``v == b`` (the usual case: a member's first
  segment): ``b * min(F(p), F(paid start))``, from per-cohort running sums, each paid
  start read only in the periods whose rate lies inside the band of the cohort's own
  paid-start rates (``_capped_parts``);
- one foreign currency, ``v != b``: ``UNDER`` (never capped: linear), ``OVER`` (always:
  the constant ``b * F(paid start)``), else ``AMBIGUOUS``, expanded per (segment,
  period) and compared exactly;
- ``MULTI``, several currencies: expanded per (member, period), converted sums compared.

A whole-scope report counts every one-currency foreign member by the default of its
level (``TRACK`` at the initial, ``OVER`` above it, ``UNDER`` below it) from the sums
kept at import, and reads one by one only the segments whose class differs
(``_foreign_gross``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from cohortd.engine.derived import ABOVE, COUNT, INITIAL, MONEY, UNIT_MONTH, UNIT_WEEK
from cohortd.engine.derived import TRACK as KEPT_TRACK
from cohortd.engine.fx import RateBook
from cohortd.engine.periods import (
    Interval,
    evaluation_day,
    first_day,
    period_of_expr,
    stored_period,
)
from cohortd.engine.retention import NO_GROUP, UNKNOWN, Breakdown, Filters, ReportQuery
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import (
    COHORT_DELTAS,
    CUSTOMER_FACTS,
    CUSTOMERS,
    MRR_SEGMENTS,
    PAID_SPELLS,
)

FACTOR_SCALE: Final = 18
FACTOR_TYPE: Final = dt.Decimal(precision=38, scale=FACTOR_SCALE)
_QUANTUM: Final = Decimal(1).scaleb(-FACTOR_SCALE)


# -- periods -------------------------------------------------------------------------
def ranged_periods(table: ir.Table, query: ReportQuery) -> ir.Table:
    """Adds ``first``/``hi``: the periods whose evaluation day ``[start_date, end_date)``
    covers; rows covering none are dropped."""
    ranged = _with_range(table, query)
    return ranged.filter(ranged.hi >= ranged.first)


def _with_range(table: ir.Table, query: ReportQuery) -> ir.Table:
    """``ranged_periods`` keeping every row (one covers none when ``hi < first``)."""
    current = query.current
    first = stored_period(table, "start", query.interval)
    past_last = (
        ibis.least(
            stored_period(table, "end", query.interval).fill_null(current),
            ibis.literal(current, "int64"),
        )
        - 1
    )
    running = (table.start_date <= query.as_of) & (
        table.end_date.isnull() | (table.end_date > query.as_of)
    )
    hi = ibis.ifelse(running, ibis.literal(current, "int64"), past_last)
    return table.mutate(first=first, hi=hi)


# -- the universe ----------------------------------------------------------------------
def _restricted(warehouse: Warehouse, scope: Scope, name: str, query: ReportQuery) -> ir.Table:
    """Rows of a derived table whose customer is in the universe, with ``grp`` and ``p0``."""
    table = scoped(warehouse, name, scope)
    table = table.filter(table.paid_started_at <= query.as_of)
    billing = table.billing_currency if name == MRR_SEGMENTS else table.currency
    f = query.filters
    if f.countries is not None:  # stored upper-cased; region slugs already expanded
        table = table.filter(table.country.isin(sorted({c.upper() for c in f.countries})))
    if f.currencies is not None:
        table = table.filter(billing.lower().isin(sorted({c.lower() for c in f.currencies})))
    others = (f.industries, f.channels, f.sizes)
    if any(v is not None for v in others) or query.members is not None:
        customers = scoped(warehouse, CUSTOMERS, scope)
        for column, tokens in zip(("industry", "channel", "size"), others, strict=True):
            if tokens is not None:
                lowered = sorted({t.lower() for t in tokens})
                customers = customers.filter(customers[column].lower().isin(lowered))
        if query.members is not None:
            customers = customers.filter(customers.id.isin(query.members.customer_id))
        table = table.filter(table.customer_id.isin(customers.id))
    match query.breakdown:
        case None:
            group: ir.StringValue = ibis.literal(NO_GROUP)
        case Breakdown.country:
            group = table.country.fill_null(UNKNOWN)
        case Breakdown.currency:
            group = billing.fill_null(UNKNOWN)
    if query.groups is not None:  # given groups: a customer's row once per group it is in
        given = query.groups.select(given_id=query.groups.customer_id, given_grp=query.groups.grp)
        table = table.join(given, table.customer_id == given.given_id)
        group = table.given_grp.cast("string")
    marked = table.mutate(grp=group, p0=stored_period(table, "0", query.interval))
    return marked.drop("given_id", "given_grp") if query.groups is not None else marked


def cohort_sizes(warehouse: Warehouse, scope: Scope, query: ReportQuery) -> ir.Table:
    """``grp, p0, n``: the customers of each (group, cohort period)."""
    facts = _restricted(warehouse, scope, CUSTOMER_FACTS, query)
    return facts.group_by(["grp", "p0"]).agg(n=facts.count())


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
    segments = _restricted(warehouse, scope, MRR_SEGMENTS, query)
    if whole_scope(query):
        # mostly from the kept sums: a (cohort, currency) with a segment covering some
        # finished period's last day has a non-zero MONEY row (its earliest change is a
        # start); a segment covering none matters only if it starts or ends in the
        # current period (measured on ``as_of``), and those are read here with the
        # current cohort's. A currency no measured amount is in is left out.
        deltas = _scope_deltas(warehouse, scope, query, upto_current=False)
        current, interval = query.current, query.interval
        earlier = deltas.filter((deltas.kind == MONEY) & (deltas.p0 < current))
        recent = segments.filter(  # paid start on or before as_of
            (segments.p0 == current)
            | (stored_period(segments, "start", interval) == current)
            | (stored_period(segments, "end", interval) == current)
        )
        starts = deltas.filter((deltas.kind == INITIAL) & (deltas.ps <= query.as_of))
        return _union(
            [
                earlier.select(currency=earlier.currency.cast("string"), ps=ibis.null("date")),
                recent.select(currency=recent.currency.cast("string"), ps=ibis.null("date")),
                starts.select(currency=starts.currency.cast("string"), ps=starts.ps.cast("date")),
            ]
        ).distinct()
    if covering:  # the segments measured on some evaluation day, and the paid starts
        ranged = _with_range(segments, query)
        segments = ranged.filter(
            (ranged.hi >= ranged.first) | (ranged.start_date == ranged.paid_started_at)
        )
    at_start = segments.start_date == segments.paid_started_at
    return segments.select(
        "currency", ps=ibis.ifelse(at_start, segments.paid_started_at, ibis.null("date"))
    ).distinct()


# -- factors ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Factors:
    """Rows of the two factor tables, exact decimals quantized to ``FACTOR_SCALE``."""

    by_period: pa.Table  # currency, p, f (evaluation day of p), f_first (first day of p), fd
    by_day: pa.Table  # currency, day, f, fd
    # fd: f as a double, for ``_classified``'s margin tests (casting decimals in SQL is slow)


@lru_cache(maxsize=1 << 16)
def _quantized(value: Decimal) -> Decimal:
    """``value`` rounded up to ``FACTOR_SCALE`` places (the module's "Money"; remembered:
    the same factors recur on every report of the same days)."""
    return value.quantize(_QUANTUM, rounding=ROUND_CEILING)


def factors(
    book: RateBook,
    query: ReportQuery,
    currencies: Iterable[str],
    start_pairs: Iterable[tuple[str, date]],
    first_period: int,
) -> Factors:
    """The factor tables; only the columns the query reads are filled (``f`` without
    ``fix_fx``, ``f_first`` with it; ``by_day`` only without), the others are null."""
    base, interval = query.base_currency, query.interval
    periods = range(first_period, query.current + 1)
    rows: dict[str, list[Any]] = {"currency": [], "p": [], "f": [], "f_first": [], "fd": []}
    cache: dict[tuple[str, date], Decimal] = {}

    def factor(currency: str, day: date) -> Decimal:
        found = cache.get((currency, day))
        if found is None:
            found = cache[(currency, day)] = _quantized(book.minor_factor(currency, base, day))
        return found

    for currency in sorted(set(currencies)):
        for p in periods:
            rows["currency"].append(currency)
            rows["p"].append(p)
            if query.fix_fx:
                rows["f"].append(None)
                rows["f_first"].append(factor(currency, first_day(p, interval)))
            else:
                day = evaluation_day(p, as_of=query.as_of, interval=interval)
                rows["f"].append(factor(currency, day))
                rows["f_first"].append(None)
            found = rows["f"][-1]
            rows["fd"].append(None if found is None else float(found))
    days: dict[str, list[Any]] = {"currency": [], "day": [], "f": [], "fd": []}
    for currency, day in sorted(set(start_pairs) if not query.fix_fx else ()):
        days["currency"].append(currency)
        days["day"].append(day)
        days["f"].append(factor(currency, day))
        days["fd"].append(float(days["f"][-1]))
    decimal = pa.decimal128(38, FACTOR_SCALE)
    return Factors(
        by_period=pa.table(
            {
                "currency": pa.array(rows["currency"], pa.string()),
                "p": pa.array(rows["p"], pa.int64()),
                "f": pa.array(rows["f"], decimal),
                "f_first": pa.array(rows["f_first"], decimal),
                "fd": pa.array(rows["fd"], pa.float64()),
            }
        ),
        by_day=pa.table(
            {
                "currency": pa.array(days["currency"], pa.string()),
                "day": pa.array(days["day"], pa.date32()),
                "f": pa.array(days["f"], decimal),
                "fd": pa.array(days["fd"], pa.float64()),
            }
        ),
    )


def rate_days(
    query: ReportQuery, first_period: int, start_pairs: Iterable[tuple[str, date]]
) -> set[date]:
    """Every day a rate is needed on."""
    interval = query.interval
    periods = range(first_period, query.current + 1)
    if query.fix_fx:  # every amount of a cohort at the first day of its period
        return {first_day(p, interval) for p in periods}
    days = {d for _, d in start_pairs}
    days.update(evaluation_day(p, as_of=query.as_of, interval=interval) for p in periods)
    return days


# -- the query -------------------------------------------------------------------------
# How each constant segment's gross is computed (``_classified``)
MULTI: Final = 0  # its member pays in several currencies: per (member, period)
SIMPLE: Final = 1  # one factor for level and initial: min(v, b), linear
TRACK: Final = 2  # foreign, v == b: b * min(F(p), F(paid start))
UNDER: Final = 3  # foreign, never over the initial at any factor of the report: v, linear
OVER: Final = 4  # foreign, always over it: the constant b * F(paid start)
AMBIGUOUS: Final = 5  # foreign, either side: per (segment, period), compared exactly
_MARGIN: Final = 1e-9  # ``_classified``'s float tests leave the near ties to AMBIGUOUS


def _classified(
    ranged: ir.Table,
    by_period: ir.Table,
    by_day: ir.Table,
    query: ReportQuery,
    *,
    exact_start: bool = False,
) -> ir.Table:
    """``ranged`` plus ``cls``, one of the constants above (and with ``exact_start``,
    ``f0``: the exact factor of the paid start day).

    One foreign currency, MRR moved away from the initial: most such segments are on one
    side of the cap whatever the rate: never capped (``UNDER``) when even the currency's
    highest factor of the report keeps them under the initial (the initial at the
    factor of its paid start day), always capped (``OVER``) when even the lowest keeps
    them over. Those two are decided in double precision with a margin of 1e-9, far
    above its rounding (about 1e-16 relative per product): a segment inside the margin
    is ``AMBIGUOUS``, whose gross is compared exactly period by period, so a float never
    decides a cap that exact decimals would decide otherwise (exact decimal products
    here cost several times more).

    Every segment is joined with its paid start's factor, not only the moved ones: the
    join makes DuckDB keep this table once for all the parts that read it, instead of
    scanning the segments again for each."""
    single = ranged.pay_currency.notnull()
    simple = ibis.literal(query.fix_fx) | (ranged.pay_currency == query.base_currency)
    bounds = by_period.group_by("currency").agg(fmin=by_period.fd.min(), fmax=by_period.fd.max())
    bounds = bounds.select(currency_c="currency", fmin="fmin", fmax="fmax")
    starts_at = by_day.select(currency_b="currency", day="day", f0="fd", f0x="f").join(
        bounds, ibis._.currency_b == bounds.currency_c
    )
    joined = ranged.left_join(
        starts_at,
        [ranged.currency == starts_at.currency_b, ranged.paid_started_at == starts_at.day],
    )
    v = joined.level_minor.cast("float64")
    b_conv = joined.initial_minor.cast("float64") * joined.f0
    cls = ibis.cases(
        (~single, MULTI),
        (simple, SIMPLE),
        (joined.level_minor == joined.initial_minor, TRACK),
        (v * joined.fmax <= b_conv * (1 - _MARGIN), UNDER),
        (v * joined.fmin >= b_conv * (1 + _MARGIN), OVER),
        else_=AMBIGUOUS,
    )
    extra = {"f0": joined.f0x} if exact_start else {}
    return joined.select(*ranged.columns, cls=cls.cast("int8"), **extra)


_KEY_TYPES: Final = {
    "grp": "string",
    "p0": "int64",
    "currency": "string",
    "paid_started_at": "date",
}


def _delta_blocks(
    sources: list[tuple[ir.Table, dict[str, ir.NumericValue]]], keys: list[str], current: int
) -> ir.Table:
    """``keys + [p] + values``, not summed: for each ``(table, values)``, each value added
    at ``first`` and taken off after ``hi`` (the take-offs past ``current`` dropped; a
    value a source lacks counts 0)."""
    names = list(dict.fromkeys(n for _, values in sources for n in values))
    blocks: list[ir.Table] = []
    for table, values in sources:
        typed = {k: table[k].cast(_KEY_TYPES[k]) for k in keys}  # one schema for the union
        filled = {n: values.get(n, ibis.literal(0)).cast("int64") for n in names}
        blocks.append(table.select(**typed, p=table.first.cast("int64"), **filled))
        taken = {n: (-values.get(n, ibis.literal(0))).cast("int64") for n in names}
        stops = table.select(**typed, p=(table.hi + 1).cast("int64"), **taken)
        blocks.append(stops.filter(stops.p <= current))
    return _union(blocks)


def _union(blocks: list[ir.Table]) -> ir.Table:
    """``UNION ALL`` of ``blocks`` (one schema)."""
    return blocks[0] if len(blocks) == 1 else blocks[0].union(*blocks[1:], distinct=False)


def _summed(rows: ir.Table, keys: list[str]) -> ir.Table:
    """``rows``' values summed per key and period."""
    names = [c for c in rows.columns if c not in (*keys, "p")]
    return rows.group_by([*keys, "p"]).agg(**{n: rows[n].sum() for n in names})


def _deltas(
    sources: list[tuple[ir.Table, dict[str, ir.NumericValue]]], keys: list[str], current: int
) -> ir.Table:
    """``_delta_blocks`` summed per key and period."""
    return _summed(_delta_blocks(sources, keys, current), keys)


def _dense(summed: ir.Table, keys: list[str], current: int) -> ir.Table:
    """``keys + [p] + sums``: the running sums of each key's differences, one row per
    period from its first difference to ``current`` (rows where every level is 0 dropped)."""
    sums = [c for c in summed.columns if c not in (*keys, "p")]
    upto = ibis.window(group_by=[summed[k] for k in keys], order_by=summed.p, rows=(None, 0))
    after = ibis.window(group_by=[summed[k] for k in keys], order_by=summed.p)
    levels = summed.select(
        *keys,
        "p",
        **{c: summed[c].sum().over(upto) for c in sums},
        until=summed.p.lead().over(after).fill_null(ibis.literal(current + 1, "int64")),
    )
    nonzero = ibis.or_(*(levels[c] != 0 for c in sums))
    levels = levels.filter(nonzero)
    # the unnest is a column of its own: Spark refuses a generator nested in an expression
    offsets = levels.mutate(offset=ibis.range(0, levels.until - levels.p).unnest())
    return offsets.mutate(p=offsets.p + offsets.offset).drop("until", "offset")


def _part(
    table: ir.Table,
    *,
    customers: ir.Value | None = None,
    mrr: ir.Value | None = None,
    gross: ir.Value | None = None,
    initial: ir.Value | None = None,
) -> ir.Table:
    """One block of the result: ``grp, p0, p`` and the four sums, one schema for all."""

    def money(value: ir.Value | None) -> ir.Value:
        return (value if value is not None else ibis.null()).cast(FACTOR_TYPE)

    return table.select(
        grp=(table.grp if "grp" in table.columns else ibis.literal(NO_GROUP)).cast("string"),
        p0=table.p0.cast("int64"),
        p=table.p.cast("int64"),
        customers=(customers if customers is not None else ibis.null()).cast("int64"),
        mrr=money(mrr),
        gross=money(gross),
        initial=money(initial),
    )


def _expanded(ranged: ir.Table) -> ir.Table:
    """One row per (range, period it covers)."""
    # range(0, n) + first: ibis 12 renders range(a, b) wrongly on PostgreSQL
    width = ranged.hi - ranged.first + 1
    offsets = ranged.mutate(offset=ibis.range(0, width).unnest())
    return offsets.mutate(p=offsets.first + offsets.offset).drop("offset")


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
        return _whole_scope_triangle(warehouse, scope, query, by_period, by_day)
    current = query.current
    segments = _restricted(warehouse, scope, MRR_SEGMENTS, query)
    spells = _restricted(warehouse, scope, PAID_SPELLS, query)
    ranged = _classified(ranged_periods(segments, query), by_period, by_day, query)
    v, b, cls = ranged.level_minor, ranged.initial_minor, ranged.cls
    parts: list[ir.Table] = []

    # retained customers: the paid spells covering each evaluation day
    # the group is a key only with a breakdown (a constant one still costs hashing)
    group = ["grp"] if query.grouped else []
    keys = [*group, "p0"]
    counts = _deltas([(ranged_periods(spells, query), {"n": ibis.literal(1)})], keys, current)
    counts = _dense(counts, keys, current)
    parts.append(_part(counts, customers=counts.n))

    # MRR, and the gross that is linear in the level (SIMPLE: min(v, b); UNDER: v)
    keys = [*group, "p0", "currency"]
    glin = ibis.cases((cls == SIMPLE, ibis.least(v, b)), (cls == UNDER, v), else_=0)
    linear = _deltas([(ranged, {"lm": v, "lg": glin})], keys, current)
    linear = _with_factors(_dense(linear, keys, current), by_period, by_day, query, day=None)
    parts.append(_part(linear, mrr=linear.lm * linear.f, gross=linear.lg * linear.f))

    # TRACK and OVER (none with fix_fx: one factor for all, every segment is SIMPLE)
    if not query.fix_fx:
        parts.extend(_capped_parts(ranged, group, by_period, by_day, query))

    parts.append(_ambiguous_part(ranged.filter(cls == AMBIGUOUS), by_period, by_day, query))
    parts.append(_several_part(segments, ranged.filter(cls == MULTI), by_period, by_day, query))

    # initial MRR: the segments that start on the paid start, at its rate
    first = segments.filter(segments.start_date == segments.paid_started_at)
    first = first.group_by(["grp", "p0", "currency", "paid_started_at"]).agg(
        b=first.level_minor.sum()
    )
    parts.append(_initial_part(first, by_period, by_day, query))
    return _result(parts)


def _ambiguous_part(
    ranged: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery
) -> ir.Table:
    """The gross of ``AMBIGUOUS`` segments: per (segment, period), compared exactly."""
    ambiguous = _with_factors(_expanded(ranged), by_period, by_day, query, day="paid_started_at")
    capped_value = ibis.least(
        ambiguous.level_minor * ambiguous.f, ambiguous.initial_minor * ambiguous.f0
    )
    return _part(ambiguous, gross=capped_value)


def _several_part(
    segments: ir.Table, ranged: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery
) -> ir.Table:
    """The gross of members paying in several currencies (``ranged``: their ranged
    segments): converted sums per (member, period) against the converted initial."""
    several = _with_factors(_expanded(ranged), by_period, by_day, query, day="paid_started_at")
    per_member = several.group_by(["customer_id", "grp", "p0", "p"]).agg(
        value=(several.level_minor * several.f).sum()
    )
    single = segments.pay_currency.notnull()
    starts = segments.filter(~single & (segments.start_date == segments.paid_started_at))
    starts = _with_factors(
        starts.mutate(p=starts.p0), by_period, by_day, query, day="paid_started_at"
    )
    initial_of = starts.group_by("customer_id").agg(b=(starts.level_minor * starts.f0).sum())
    joined = per_member.join(initial_of, "customer_id")
    return _part(joined, gross=ibis.least(joined.value, joined.b))


def _initial_part(
    first: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery
) -> ir.Table:
    """The initial MRR from ``[grp,] p0, currency, paid_started_at, b`` (minor units of
    the levels on each paid start day), at the rate of that day."""
    first = _with_factors(first.mutate(p=first.p0), by_period, by_day, query, day="paid_started_at")
    return _part(first, initial=first.b * first.f0)


def _result(parts: list[ir.Table]) -> ir.Table:
    every = _union(parts)
    return every.group_by(["grp", "p0", "p"]).agg(
        customers=every.customers.sum(),
        mrr=every.mrr.sum(),
        gross=every.gross.sum(),
        initial=every.initial.sum(),
    )


# -- the whole scope: the summed changes kept at import ------------------------------------
def whole_scope(query: ReportQuery) -> bool:
    """No filter, breakdown or cohort restriction: ``triangle`` starts from
    ``cohort_deltas`` (``engine.derived``) instead of the segments."""
    return query.members is None and not query.grouped and query.filters == Filters()


def _scope_deltas(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, *, upto_current: bool = True
) -> ir.Table:
    """The scope's ``cohort_deltas`` in the query's periods (``p0``, ``p`` as int64; a
    quarter or a year is its months' rows, divided), changes after ``current`` dropped
    unless ``upto_current`` is false."""
    table = scoped(warehouse, COHORT_DELTAS, scope)
    week = query.interval is Interval.week
    table = table.filter(table.unit == (UNIT_WEEK if week else UNIT_MONTH))
    per = {Interval.quarter: 3, Interval.year: 12}.get(query.interval, 1)
    p0, p = table.p0.cast("int64"), table.p.cast("int64")
    mapped = table.mutate(p0=p0 // per, p=p // per) if per > 1 else table.mutate(p0=p0, p=p)
    return mapped.filter(mapped.p <= query.current) if upto_current else mapped


Shape = Callable[[ir.Table], ir.Value]
_MOVED_COLUMNS: Final = (
    "grp",
    "p0",
    "currency",
    "paid_started_at",
    "level_minor",
    "initial_minor",
    "pay_currency",
    "start_date",
    "end_date",
    "week_start",
    "month_start",
    "week_end",
    "month_end",
)


def _at_current(
    table: ir.Table, query: ReportQuery, keys: dict[str, Shape], values: dict[str, Shape]
) -> ir.Table:
    """``keys + [p] + values``: what ``cohort_deltas`` gets wrong in the current period.

    The kept changes say a range covers period p iff ``period(start) <= p <
    period(end)``, true of every finished period; the current one is measured on
    ``as_of`` instead (``start <= as_of < end``, which also leaves out members whose paid
    start is after it). The two differ only for ranges that start or end in the current
    period: each adds ``value × (truth − kept)`` at ``p = current``."""
    current, interval = query.current, query.interval
    near = table.filter(
        (stored_period(table, "start", interval) == current)
        | (stored_period(table, "end", interval) == current)
    )
    end = stored_period(near, "end", interval)
    truth = (near.start_date <= query.as_of) & (
        near.end_date.isnull() | (near.end_date > query.as_of)
    )
    kept = (stored_period(near, "start", interval) <= current) & (end.isnull() | (end > current))
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    near = near.mutate(_k=ibis.ifelse(truth, one, zero) - ibis.ifelse(kept, one, zero))
    near = near.filter(near._k != 0)
    return near.select(
        **{k: shape(near).cast(_KEY_TYPES[k]) for k, shape in keys.items()},
        p=ibis.literal(current, "int64"),
        **{n: (shape(near) * near._k).cast("int64") for n, shape in values.items()},
    )


def _whole_scope_triangle(
    warehouse: Warehouse,
    scope: Scope,
    query: ReportQuery,
    by_period: ir.Table,
    by_day: ir.Table,
) -> ir.Table:
    """``triangle`` for a whole scope: counts, MRR, initial MRR and most of the gross
    from the summed changes; only the gross of members in a foreign currency whose level
    moved away from their initial and whose class is not their default
    (``_foreign_gross``), and of members in several currencies, reads segments."""
    current = query.current
    deltas = _scope_deltas(warehouse, scope, query)
    every_segment = scoped(warehouse, MRR_SEGMENTS, scope)  # corrections: the whole scope
    every_spell = scoped(warehouse, PAID_SPELLS, scope)
    segments = _restricted(warehouse, scope, MRR_SEGMENTS, query)  # the universe
    parts: list[ir.Table] = []

    def p0(t: ir.Table) -> ir.Value:
        return stored_period(t, "0", query.interval)

    # retained customers
    kept = deltas.filter(deltas.kind == COUNT)
    counts = _union(
        [
            kept.select(p0="p0", p="p", n=kept.n.cast("int64")),
            _at_current(every_spell, query, {"p0": p0}, {"n": lambda t: ibis.literal(1)}),
        ]
    )
    counts = _dense(_summed(counts, ["p0"]), ["p0"], current)
    parts.append(_part(counts, customers=counts.n))

    # MRR, and the gross linear in the level: ``m`` is min(v, b) of every member in one
    # currency. Where one factor converts level and initial (SIMPLE) that is the gross;
    # in a foreign currency the members at (TRACK) and above (ABOVE) their initial are
    # taken off it below, leaving the levels of those below it (UNDER by default)
    money = deltas.filter(deltas.kind == MONEY)
    keys = {"p0": p0, "currency": lambda t: t.currency}
    blocks = [
        money.select(
            p0="p0",
            currency=money.currency.cast("string"),
            p="p",
            lm=money.v.cast("int64"),
            lg=money.m.cast("int64"),
        ),
        _at_current(
            every_segment,
            query,
            keys,
            {
                "lm": lambda t: t.level_minor,
                "lg": lambda t: ibis.ifelse(
                    t.pay_currency.notnull(), ibis.least(t.level_minor, t.initial_minor), 0
                ),
            },
        ),
    ]
    if query.fix_fx:  # one factor for all: every gross is linear
        linear = _dense(_summed(_union(blocks), ["p0", "currency"]), ["p0", "currency"], current)
        linear = _with_factors(linear, by_period, by_day, query, day=None)
        parts.append(_part(linear, mrr=linear.lm * linear.f, gross=linear.lg * linear.f))
    else:
        linear = _union(blocks)
        parts.extend(
            _foreign_gross(deltas, every_segment, segments, linear, by_period, by_day, query)
        )

    several = ranged_periods(segments.filter(segments.pay_currency.isnull()), query)
    parts.append(_several_part(segments, several, by_period, by_day, query))

    # initial MRR: kept per currency and paid start
    first = deltas.filter((deltas.kind == INITIAL) & (deltas.ps <= query.as_of))
    first = first.group_by("p0", "currency", paid_started_at=first.ps).agg(b=first.v.sum())
    parts.append(_initial_part(first, by_period, by_day, query))
    return _result(parts)


def _foreign_gross(
    deltas: ir.Table,
    every_segment: ir.Table,
    segments: ir.Table,
    linear: ir.Table,
    by_period: ir.Table,
    by_day: ir.Table,
    query: ReportQuery,
) -> list[ir.Table]:
    """The whole scope's MRR and gross without ``fix_fx`` (``linear``: the MRR and linear
    gross changes per ``p0, currency, p``).

    Members in one foreign currency are counted by default as the kept sums say: at
    their initial level as ``TRACK`` (``b * min(F(p), F(paid start))``), above it as
    ``OVER`` (the constant ``b * F(paid start)``), below it as ``UNDER`` (their level,
    linear: ``m`` less the other two). Both kinds are kept per paid start and summed
    here per (currency, paid start, period) as ``changes``: ``lt`` the TRACK levels,
    ``lc`` the ABOVE initials, ``lg`` what they take off ``m``. Only the segments whose
    class at this report's rates is not their default (``_classified``: a rate moved
    far enough to put a lower level over its initial, or a higher one under it, or too
    close to call) are read one by one: their default taken off, their class's value
    added, and the ``AMBIGUOUS`` ones compared exactly per period."""
    current, base = query.current, query.base_currency
    foreign = deltas.filter(
        ((deltas.kind == KEPT_TRACK) | (deltas.kind == ABOVE)) & (deltas.currency != base)
    )
    capped = every_segment.filter(
        every_segment.pay_currency.notnull()
        & (every_segment.currency != base)
        & (every_segment.level_minor >= every_segment.initial_minor)
    )
    changes = _union(
        [
            foreign.select(
                currency=foreign.currency.cast("string"),
                paid_started_at=foreign.ps.cast("date"),
                p="p",
                lt=ibis.ifelse(foreign.kind == KEPT_TRACK, foreign.t, 0).cast("int64"),
                lc=ibis.ifelse(foreign.kind == ABOVE, foreign.t, 0).cast("int64"),
                lg=(-foreign.t).cast("int64"),
            ),
            _at_current(
                capped,
                query,
                {"currency": lambda t: t.currency, "paid_started_at": lambda t: t.paid_started_at},
                {
                    "lt": lambda t: ibis.ifelse(
                        t.level_minor == t.initial_minor, t.initial_minor, 0
                    ),
                    "lc": lambda t: ibis.ifelse(
                        t.level_minor > t.initial_minor, t.initial_minor, 0
                    ),
                    "lg": lambda t: -t.initial_minor,
                },
            ),
        ]
    )
    changes = _summed(changes, ["currency", "paid_started_at"])
    changes = changes.filter((changes.lt != 0) | (changes.lc != 0) | (changes.lg != 0))

    # the segments whose class is not their default
    moved = segments.filter(
        segments.pay_currency.notnull()
        & (segments.currency != base)
        & (segments.level_minor != segments.initial_minor)
    ).select(*_MOVED_COLUMNS)  # a CTE below: only what it needs
    moved = _classified(ranged_periods(moved, query), by_period, by_day, query, exact_start=True)
    odd = moved.filter(
        ibis.ifelse(moved.level_minor < moved.initial_minor, moved.cls != UNDER, moved.cls != OVER)
    )
    below = odd.level_minor < odd.initial_minor  # its default: UNDER, else OVER
    int_zero, decimal_zero = ibis.literal(0).cast("int64"), ibis.literal(0).cast(FACTOR_TYPE)
    over_value = (odd.initial_minor * odd.f0).cast(FACTOR_TYPE)
    # its class's value less its default's, in both columns (an AMBIGUOUS one: less only)
    lg = (
        ibis.ifelse(odd.cls == UNDER, odd.level_minor, 0) - ibis.ifelse(below, odd.level_minor, 0)
    ).cast("int64")
    cc = ibis.ifelse(odd.cls == OVER, over_value, decimal_zero) - ibis.ifelse(
        below, decimal_zero, over_value
    )
    keyed = {"p0": odd.p0.cast("int64"), "currency": odd.currency.cast("string")}
    stops = odd.select(**keyed, p=(odd.hi + 1).cast("int64"), lm=int_zero, lg=-lg, cc=-cc)
    extra = _union(
        [
            linear.select("p0", "currency", "p", "lm", "lg", cc=decimal_zero),
            odd.select(**keyed, p=odd.first.cast("int64"), lm=int_zero, lg=lg, cc=cc),
            stops.filter(stops.p <= current),
        ]
    )
    parts = _capped_from_changes(changes, [], by_period, by_day, query, extra)
    ambiguous = odd.filter(odd.cls == AMBIGUOUS).drop("f0")
    parts.append(_ambiguous_part(ambiguous, by_period, by_day, query))
    return parts


def _capped_parts(
    ranged: ir.Table,
    group: list[str],
    by_period: ir.Table,
    by_day: ir.Table,
    query: ReportQuery,
) -> list[ir.Table]:
    """The gross of ``TRACK`` segments, ``b * min(F(p), F(ps))``, and of ``OVER`` ones,
    ``b * F(ps)``, where ``ps`` is the member's paid start day.

    Their level changes are summed per (currency, paid start, period) (``changes``).
    Per (cohort, currency, period) three running sums follow from them: ``lt`` (the
    TRACK levels), ``ct`` (the same converted at each one's ``F(ps)``) and ``cc`` (the
    OVER levels converted at ``F(ps)``). Over a cohort's paid start days, ``F(ps)`` lies
    in ``[bmin, bmax]``: in a period with ``F(p) <= bmin`` every TRACK member is capped
    by the rate of the day (``lt * F(p)``), with ``F(p) >= bmax`` none is (``ct``). Only
    the periods strictly inside the band, a few in practice (the rates of a cohort's own
    days are close together), need each paid start's level: there the changes up to
    ``p`` are summed with ``min(F(p), F(ps))``, an inequality join and no expansion.
    Exact decimals throughout."""
    capped = ranged.filter((ranged.cls == TRACK) | (ranged.cls == OVER))
    track = ibis.ifelse(capped.cls == TRACK, capped.initial_minor, 0)
    const = ibis.ifelse(capped.cls == OVER, capped.initial_minor, 0)
    keys = [*group, "currency", "paid_started_at"]
    changes = _deltas([(capped, {"lt": track, "lc": const})], keys, query.current)
    return _capped_from_changes(changes, group, by_period, by_day, query)


def _capped_from_changes(
    changes: ir.Table,
    group: list[str],
    by_period: ir.Table,
    by_day: ir.Table,
    query: ReportQuery,
    extra: ir.Table | None = None,
) -> list[ir.Table]:
    """``_capped_parts`` from the summed changes ``group + [currency, paid_started_at, p,
    lt, lc]``. ``extra``, when given, holds more changes per ``group + [p0, currency,
    p]``: ``lm`` and ``lg`` (levels of the MRR and of the linear gross, minor units)
    and ``cc`` (already converted): one running sum for all, the MRR read off it too."""
    current = query.current
    keys = [*group, "currency", "paid_started_at"]
    days = by_day.select(currency_d="currency", day="day", f0="f")
    changes = changes.left_join(
        days, [changes.currency == days.currency_d, changes.paid_started_at == days.day]
    )
    changes = changes.select(
        *keys,
        "p",
        "lt",
        "lc",
        *(["lg"] if "lg" in changes.columns else []),
        "f0",
        p0=period_of_expr(changes.paid_started_at, query.interval),
    )

    cohort = [*group, "p0", "currency"]
    summed = changes.group_by([*cohort, "p"]).agg(
        lt=changes.lt.sum(),
        ct=(changes.lt * changes.f0).sum(),
        cc=(changes.lc * changes.f0).sum(),
        **({"lg": changes.lg.sum()} if "lg" in changes.columns else {}),
    )
    if extra is not None:
        zero = ibis.literal(0)
        both = _union(
            [
                summed.select(
                    *cohort,
                    "p",
                    lm=zero.cast("int64"),
                    lg=(summed.lg if "lg" in summed.columns else zero).cast("int64"),
                    lt=summed.lt.cast("int64"),
                    ct=summed.ct.cast(FACTOR_TYPE),
                    cc=summed.cc.cast(FACTOR_TYPE),
                ),
                extra.select(
                    *cohort,
                    "p",
                    lm=extra.lm.cast("int64"),
                    lg=extra.lg.cast("int64"),
                    lt=zero.cast("int64"),
                    ct=zero.cast(FACTOR_TYPE),
                    cc=extra.cc.cast(FACTOR_TYPE),
                ),
            ]
        )
        summed = _summed(both, cohort)
    levels = _dense(summed, cohort, current)
    starts = changes.filter(changes.lt > 0)  # every TRACK member's paid start day
    band = starts.group_by(cohort).agg(bmin=starts.f0.min(), bmax=starts.f0.max())
    band = band.select(**{f"{k}_b": band[k] for k in cohort}, bmin="bmin", bmax="bmax")
    rated = levels.left_join(band, [levels[k] == band[f"{k}_b"] for k in cohort])
    periods = by_period.select(currency_p="currency", p_p="p", f="f")
    rated = rated.left_join(periods, [rated.currency == periods.currency_p, rated.p == periods.p_p])
    f, lt = rated.f, rated.lt
    by_rate = ibis.cases(
        (lt == 0, ibis.literal(0).cast(FACTOR_TYPE)),
        (f <= rated.bmin, lt * f),
        (f >= rated.bmax, rated.ct),
        else_=ibis.literal(0).cast(FACTOR_TYPE),  # inside the band: below
    )
    if extra is None:
        parts = [_part(rated, gross=rated.cc + by_rate)]
    else:
        parts = [_part(rated, mrr=rated.lm * f, gross=rated.lg * f + rated.cc + by_rate)]

    # the periods inside a cohort's band, from the band and the factors alone (reading
    # them off ``rated`` would compute the running sums twice); a period where the
    # cohort's track level is 0 adds a sum of 0
    in_band = band.join(
        periods,
        [
            band.currency_b == periods.currency_p,
            periods.p_p >= band.p0_b,
            periods.f > band.bmin,
            periods.f < band.bmax,
        ],
    )
    inside = in_band.select(
        **{f"{k}_i": in_band[f"{k}_b"] for k in cohort}, p_i=in_band.p_p, f_i=in_band.f
    )
    # a view: ``inside`` derives from ``changes``, and Ibis would otherwise read the
    # join's left-hand keys from the right-hand side (``p0_i = p0_i``)
    left = changes.filter(changes.lt != 0).view()  # the TRACK rows only
    joined = left.join(
        inside, [*(left[k] == inside[f"{k}_i"] for k in cohort), left.p <= inside.p_i]
    )
    exact = joined.group_by([*cohort, "p_i"]).agg(
        g=(joined.lt * ibis.least(joined.f_i, joined.f0)).sum()
    )
    exact = exact.rename(p="p_i")
    parts.append(_part(exact, gross=exact.g))
    return parts


def _with_factors(
    table: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery, *, day: str | None
) -> ir.Table:
    """``table`` plus ``f`` (the factor of its currency for period ``p``) and ``f0`` (the
    initial MRR's factor: on ``table[day]``, or the first day of ``p0`` with ``fix_fx``).

    Rows whose currency has no factor (the count rows) keep null factors."""
    if query.fix_fx:
        # every amount of a cohort at the rate of the first day of its p0
        at_p0 = by_period.select(currency="currency", p0="p", f="f_first")
        joined = table.left_join(at_p0, [table.currency == at_p0.currency, table.p0 == at_p0.p0])
        return joined.select(*table.columns, f=joined.f, f0=joined.f)
    periods = by_period.select("currency", "p", "f")
    joined = table.left_join(periods, [table.currency == periods.currency, table.p == periods.p])
    with_f = joined.select(*table.columns, f=joined.f)
    if day is None:
        return with_f
    days = by_day.select("currency", "day", f0="f")
    joined = with_f.left_join(days, [with_f.currency == days.currency, with_f[day] == days.day])
    return joined.select(*with_f.columns, f0=joined.f0)
