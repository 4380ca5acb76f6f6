"""The building blocks of the triangle query (``engine.triangle``): ranges as period
numbers, the universe, each segment's gross class, difference arrays and their running
sums, the capped gross, and the result's parts. Both forms of the query, from the
segments (``triangle``) and from the kept sums (``engine.whole_scope``), are made of
these."""

from __future__ import annotations

from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.factors import FACTOR_TYPE, with_factors
from cohortd.engine.periods import (
    period_of_expr,
    stored_period,
)
from cohortd.engine.retention import NO_GROUP, UNKNOWN, Breakdown, ReportQuery
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import (
    CUSTOMER_FACTS,
    CUSTOMERS,
    MRR_SEGMENTS,
)


# -- periods -------------------------------------------------------------------------
def ranged_periods(table: ir.Table, query: ReportQuery) -> ir.Table:
    """Adds ``first``/``hi``: the periods whose evaluation day ``[start_date, end_date)``
    covers; rows covering none are dropped."""
    ranged = with_range(table, query)
    return ranged.filter(ranged.hi >= ranged.first)


def with_range(table: ir.Table, query: ReportQuery) -> ir.Table:
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
def restricted(warehouse: Warehouse, scope: Scope, name: str, query: ReportQuery) -> ir.Table:
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
    facts = restricted(warehouse, scope, CUSTOMER_FACTS, query)
    return facts.group_by(["grp", "p0"]).agg(n=facts.count())


# -- the query -------------------------------------------------------------------------
# How each constant segment's gross is computed (``classified``)
MULTI: Final = 0  # its member pays in several currencies: per (member, period)
SIMPLE: Final = 1  # one factor for level and initial: min(v, b), linear
TRACK: Final = 2  # foreign, v == b: b * min(F(p), F(paid start))
UNDER: Final = 3  # foreign, never over the initial at any factor of the report: v, linear
OVER: Final = 4  # foreign, always over it: the constant b * F(paid start)
AMBIGUOUS: Final = 5  # foreign, either side: per (segment, period), compared exactly
_MARGIN: Final = 1e-9  # ``classified``'s float tests leave the near ties to AMBIGUOUS


def classified(
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


KEY_TYPES: Final = {
    "grp": "string",
    "p0": "int64",
    "currency": "string",
    "paid_started_at": "date",
}


def delta_blocks(
    sources: list[tuple[ir.Table, dict[str, ir.NumericValue]]], keys: list[str], current: int
) -> ir.Table:
    """``keys + [p] + values``, not summed: for each ``(table, values)``, each value added
    at ``first`` and taken off after ``hi`` (the take-offs past ``current`` dropped; a
    value a source lacks counts 0)."""
    names = list(dict.fromkeys(n for _, values in sources for n in values))
    blocks: list[ir.Table] = []
    for table, values in sources:
        typed = {k: table[k].cast(KEY_TYPES[k]) for k in keys}  # one schema for the union
        filled = {n: values.get(n, ibis.literal(0)).cast("int64") for n in names}
        blocks.append(table.select(**typed, p=table.first.cast("int64"), **filled))
        taken = {n: (-values.get(n, ibis.literal(0))).cast("int64") for n in names}
        stops = table.select(**typed, p=(table.hi + 1).cast("int64"), **taken)
        blocks.append(stops.filter(stops.p <= current))
    return union_all(blocks)


def union_all(blocks: list[ir.Table]) -> ir.Table:
    """``UNION ALL`` of ``blocks`` (one schema)."""
    return blocks[0] if len(blocks) == 1 else blocks[0].union(*blocks[1:], distinct=False)


def sum_per_period(rows: ir.Table, keys: list[str]) -> ir.Table:
    """``rows``' values summed per key and period."""
    names = [c for c in rows.columns if c not in (*keys, "p")]
    return rows.group_by([*keys, "p"]).agg(**{n: rows[n].sum() for n in names})


def period_deltas(
    sources: list[tuple[ir.Table, dict[str, ir.NumericValue]]], keys: list[str], current: int
) -> ir.Table:
    """``delta_blocks`` summed per key and period."""
    return sum_per_period(delta_blocks(sources, keys, current), keys)


def dense_levels(summed: ir.Table, keys: list[str], current: int) -> ir.Table:
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


def result_part(
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


def expanded(ranged: ir.Table) -> ir.Table:
    """One row per (range, period it covers)."""
    # range(0, n) + first: ibis 12 renders range(a, b) wrongly on PostgreSQL
    width = ranged.hi - ranged.first + 1
    offsets = ranged.mutate(offset=ibis.range(0, width).unnest())
    return offsets.mutate(p=offsets.first + offsets.offset).drop("offset")


def ambiguous_part(
    ranged: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery
) -> ir.Table:
    """The gross of ``AMBIGUOUS`` segments: per (segment, period), compared exactly."""
    ambiguous = with_factors(expanded(ranged), by_period, by_day, query, day="paid_started_at")
    capped_value = ibis.least(
        ambiguous.level_minor * ambiguous.f, ambiguous.initial_minor * ambiguous.f0
    )
    return result_part(ambiguous, gross=capped_value)


def several_part(
    segments: ir.Table, ranged: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery
) -> ir.Table:
    """The gross of members paying in several currencies (``ranged``: their ranged
    segments): converted sums per (member, period) against the converted initial."""
    several = with_factors(expanded(ranged), by_period, by_day, query, day="paid_started_at")
    per_member = several.group_by(["customer_id", "grp", "p0", "p"]).agg(
        value=(several.level_minor * several.f).sum()
    )
    single = segments.pay_currency.notnull()
    starts = segments.filter(~single & (segments.start_date == segments.paid_started_at))
    starts = with_factors(
        starts.mutate(p=starts.p0), by_period, by_day, query, day="paid_started_at"
    )
    initial_of = starts.group_by("customer_id").agg(b=(starts.level_minor * starts.f0).sum())
    joined = per_member.join(initial_of, "customer_id")
    return result_part(joined, gross=ibis.least(joined.value, joined.b))


def initial_part(
    first: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery
) -> ir.Table:
    """The initial MRR from ``[grp,] p0, currency, paid_started_at, b`` (minor units of
    the levels on each paid start day), at the rate of that day."""
    first = with_factors(first.mutate(p=first.p0), by_period, by_day, query, day="paid_started_at")
    return result_part(first, initial=first.b * first.f0)


def result_of(parts: list[ir.Table]) -> ir.Table:
    every = union_all(parts)
    return every.group_by(["grp", "p0", "p"]).agg(
        customers=every.customers.sum(),
        mrr=every.mrr.sum(),
        gross=every.gross.sum(),
        initial=every.initial.sum(),
    )


def capped_parts(
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
    changes = period_deltas([(capped, {"lt": track, "lc": const})], keys, query.current)
    return capped_from_changes(changes, group, by_period, by_day, query)


def capped_from_changes(
    changes: ir.Table,
    group: list[str],
    by_period: ir.Table,
    by_day: ir.Table,
    query: ReportQuery,
    extra: ir.Table | None = None,
) -> list[ir.Table]:
    """``capped_parts`` from the summed changes ``group + [currency, paid_started_at, p,
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
        both = union_all(
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
        summed = sum_per_period(both, cohort)
    levels = dense_levels(summed, cohort, current)
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
        parts = [result_part(rated, gross=rated.cc + by_rate)]
    else:
        parts = [result_part(rated, mrr=rated.lm * f, gross=rated.lg * f + rated.cc + by_rate)]

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
    parts.append(result_part(exact, gross=exact.g))
    return parts
