"""MRR movements per (group, period): the one building block of snapshots (SPEC §4),
the cohort comparison and metrics (SPEC §8).

For a group of customers and a run of consecutive periods (``Window``), each member has
``s`` = its MRR on the day before the period starts and ``e`` = its MRR on the period's
evaluation day (its last day, or an earlier cut-off for the current period), both
converted at one rate day per period (the evaluation day, or a fixed day for constant
currency). Movements: s > 0, e = 0 → churn (s); s = 0, e > 0 → new when the member first
paid inside the period, else reactivation (e); both > 0 → expansion or contraction by
the difference. ``fx_impact`` = Σ s at the period's rate − Σ s at the previous period's
rate, so ``ending(p − 1) + fx_impact(p) = starting(p)`` exactly.

Shape of the computation, batched over any number of groups and periods (a fixed
handful of queries whatever their number):

- the measuring days ``d_0 < d_1 < … < d_n`` (``d_0`` the day before the first period,
  ``d_i`` period i's evaluation day) cut time into buckets ``(d_{j−1}, d_j]``; each
  ``mrr_segments`` row ``[start, end)`` (a customer's constant MRR in one currency)
  covers exactly the days ``d_j`` with ``lo ≤ j < hi``, ``lo`` and ``hi`` being the
  buckets of its start and end;
- the MRR of a group on every measuring day is a running sum of ``+level`` at ``lo``
  and ``−level`` at ``hi`` (per currency, integer minor units), and the paying count a
  running sum of the same over ``paid_spells``: flat members cost nothing;
- only a member with a segment starting or ending inside period i can have moved in
  it: those (member, period) pairs alone are classified, in SQL. The sign of e − s of
  a member billed in several currencies is decided with float factors; amounts come
  back as integer sums per (group, period, movement, currency) and are converted here
  with exact ``Decimal`` factors (``engine.fx.RateBook``), rounding left to the caller.

Reads the derived tables (``engine.derived``), after ``derived.catch_up``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, localcontext
from functools import partial
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from cohortd.engine import derived
from cohortd.engine.fx import OPEN_START, RateBook
from cohortd.engine.movement_model import (
    WHOLE_SCOPE,
    ZERO,
    Movement,
    MovementTable,
    PeriodMovements,
    Window,
    measuring_days,
)
from cohortd.engine.pairs import changed_pairs
from cohortd.engine.periods import (
    Interval,
    first_day,
    last_day,
    period_of,
    period_of_expr,
)
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import MRR_SEGMENTS, PAID_SPELLS

# digits that hold a sum of (integer minor units x a 50-digit factor) exactly, so the
# totals do not depend on the order the warehouse returns rows in (DuckDB's and Spark's
# differ); rounding happens once, at the edge
EXACT_PRECISION: Final = 120
_EPOCH: Final = date(1970, 1, 1)


def cohort_movements(
    warehouse: Warehouse,
    scope: Scope,
    *,
    members: ir.Table | None,
    periods: Sequence[Window],
    currency: str,
    fixed_rate_day: date | None = None,
    bucket_join: bool = False,
    shared_members: bool = False,
) -> MovementTable:
    """The movements of many groups over many periods, in one batched computation.

    ``members``: an Ibis table with columns ``group_id`` (string) and ``customer_id``
    (a customer may sit in several groups); ``None`` means one group, ``WHOLE_SCOPE``,
    of every customer of ``scope``. ``periods``: consecutive windows (``period_windows``
    or ``day_windows``), only the last one may be cut short. ``currency``: the target
    (ISO 4217). Amounts of period i are at the rate of its evaluation day, or of
    ``fixed_rate_day`` for every period when given (constant currency: ``fx_impact``
    is then 0). Exact ``Decimal`` values, unrounded; ``MovementTable.series(group_id)``
    is each group's list, zero-filled for a group with no paying member.

    ``bucket_join`` forces the general range join even for regular periods (tests).
    ``shared_members``: customers sit in several groups each (a snapshot run's cohorts):
    the work is then done once per customer of the union, and only the per-customer sums
    are regrouped (``_regrouped``). The answer is the same either way.

    Raises ``fx.UnknownCurrency`` for a currency without rates.
    """
    derived.catch_up(warehouse, scope)
    numbered = None if bucket_join else numbering(periods)
    days = measuring_days(periods)
    n = len(periods)
    regroup: Callable[[ir.Table, list[str], list[str]], ir.Table] = _as_grouped
    ranged_members = members
    if members is not None and shared_members:
        # each customer once, its own group; the groups come back in ``regroup``
        union = members.select("customer_id").distinct()
        ranged_members = union.select(group_id=union.customer_id, customer_id=union.customer_id)
        regroup = partial(_regrouped, members)
    with temp_tables(warehouse) as temp:
        # only the general path joins against the measuring days
        buckets = temp("buckets", _bucket_rows(days)) if numbered is None else None
        segments = ranged_rows(
            scoped(warehouse, MRR_SEGMENTS, scope), ranged_members, buckets, periods, numbered
        )
        ranged = temp("segments", segments)
        levels_by = regroup(_level_deltas(ranged, n), ["j", "currency"], ["v"])
        levels = warehouse.to_pyarrow(levels_by).to_pylist()
        spells = ranged_rows(
            scoped(warehouse, PAID_SPELLS, scope), ranged_members, buckets, periods, numbered
        )
        paying = warehouse.to_pyarrow(regroup(_count_deltas(spells, n), ["j"], ["k"])).to_pylist()
        currencies = {str(r["currency"]) for r in levels}
        rate_days = [fixed_rate_day or d for d in days]
        book = RateBook.load(
            warehouse, scope, {(c, d) for c in currencies | {currency} for d in rate_days}
        )
        factors = ibis.memtable(factor_rows(book, currencies, currency, rate_days))
        bounds = ibis.memtable(bound_rows(periods))
        moved_by = regroup(
            changed_sums(ranged, factors, bounds, n),
            ["i", "movement", "currency"],
            ["s", "e", "members"],
        )
        moved = warehouse.to_pyarrow(moved_by).to_pylist()
    return assemble(periods, rate_days, currency, book, levels, paying, moved)


# -- the queries ------------------------------------------------------------------------


def _as_grouped(sums: ir.Table, keys: list[str], values: list[str]) -> ir.Table:
    """``sums`` as they are: their ``group_id`` is the real group already."""
    return sums


def _regrouped(members: ir.Table, sums: ir.Table, keys: list[str], values: list[str]) -> ir.Table:
    """Per-customer ``sums`` (their ``group_id`` is the customer's id) summed per real
    group of ``members`` (``group_id, customer_id``): every value is a sum over the
    group's customers, so summing the customers' own sums gives the same totals."""
    own = members.select(member_id=members.customer_id, member_group=members.group_id)
    joined = sums.join(own, sums.group_id == own.member_id)
    return joined.group_by([joined.member_group.name("group_id"), *keys]).agg(
        **{v: joined[v].sum().cast("int64") for v in values}
    )


@contextmanager
def temp_tables(warehouse: Warehouse) -> Iterator[Any]:
    """A maker of session-local tables (real tables carry statistics: DuckDB plans a range
    join against one far better than against Arrow rows), all dropped afterwards."""
    names: list[str] = []

    def make(label: str, source: pa.Table | ir.Table) -> ir.Table:
        name = f"_mov_{label}_{uuid.uuid4().hex}"
        names.append(name)
        rows = ibis.memtable(source) if isinstance(source, pa.Table) else source
        return warehouse.create_temp_table(name, rows)

    try:
        yield make
    finally:
        for name in names:
            warehouse.drop_temp_table(name)


def _bucket_rows(days: list[date]) -> pa.Table:
    """``j, after, upto``: bucket j holds the days in ``(after, upto]``."""
    after = [OPEN_START, *days[:-1]]
    return pa.table(
        {
            "j": pa.array(range(len(days)), pa.int64()),
            "after": pa.array(after, pa.date32()),
            "upto": pa.array(days, pa.date32()),
        }
    )


def bound_rows(periods: Sequence[Window]) -> pa.Table:
    """``i, first, last``: period i's calendar days (is a first payment inside it?)."""
    return pa.table(
        {
            "i": pa.array(range(1, len(periods) + 1), pa.int64()),
            "first": pa.array([w.start for w in periods], pa.date32()),
            "last": pa.array([w.last for w in periods], pa.date32()),
        }
    )


def factor_rows(
    book: RateBook, currencies: set[str], target: str, rate_days: list[date]
) -> pa.Table:
    """``currency, i, f``: float factor of a minor unit to ``target`` in period i (only
    ever used to decide the sign of e − s)."""
    rows: dict[str, list[Any]] = {"currency": [], "i": [], "f": []}
    for code in sorted(currencies):
        for i in range(1, len(rate_days)):
            rows["currency"].append(code)
            rows["i"].append(i)
            rows["f"].append(float(book.minor_factor(code, target, rate_days[i])))
    return pa.table(
        {
            "currency": pa.array(rows["currency"], pa.string()),
            "i": pa.array(rows["i"], pa.int64()),
            "f": pa.array(rows["f"], pa.float64()),
        }
    )


def _bucket_of(table: ir.Table, column: str, buckets: ir.Table, name: str) -> ir.Table:
    """``table`` plus ``name``: the bucket of ``table[column]`` (null: after the last day)."""
    b = buckets.select(
        **{f"{name}_after": buckets.after, f"{name}_upto": buckets.upto, name: buckets.j}
    )
    joined = table.left_join(
        b, [b[f"{name}_after"] < table[column], table[column] <= b[f"{name}_upto"]]
    )
    return joined.select(*[joined[c] for c in table.columns], joined[name])


Numbering = tuple[Callable[[ir.DateValue], ir.IntegerValue], int]


def numbering(periods: Sequence[Window]) -> Numbering | None:
    """How to number the periods in SQL when they are whole days, weeks, months, quarters
    or years (the last may be cut short): the period number of a date as an expression,
    and the first window's number. None for any other run of windows."""
    if all(w.start == w.last for w in periods):
        return _epoch_day, (periods[0].start - _EPOCH).days
    for interval in Interval:
        if all(
            first_day(period_of(w.start, interval), interval) == w.start
            and last_day(period_of(w.start, interval), interval) == w.last
            for w in periods
        ):
            return partial(period_of_expr, interval=interval), period_of(periods[0].start, interval)
    return None


def _epoch_day(day: ir.DateValue) -> ir.IntegerValue:
    return day.epoch_days().cast("int64")


def _bucket_expr(
    day: ir.DateValue, numbered: Numbering, n: int, last_day_measured: date
) -> ir.IntegerValue:
    """The bucket of ``day`` by arithmetic: a day of period P (number) lies in bucket
    ``P − first + 1`` (0 before the first period), ``n + 1`` after the last measured day."""
    number, first = numbered
    past = ibis.literal(n + 1, "int64")
    inside = ibis.greatest(number(day) - first + 1, ibis.literal(0, "int64"))
    return ibis.cases((day.isnull(), past), (day > last_day_measured, past), else_=inside)


def ranged_rows(
    table: ir.Table,
    members: ir.Table | None,
    buckets: ir.Table | None,
    periods: Sequence[Window],
    numbered: Numbering | None,
) -> ir.Table:
    """Rows of a derived range table (segments or spells) with ``group_id``, ``lo`` and
    ``hi``: they cover the measuring days ``d_j`` with ``lo ≤ j < hi`` (none dropped).

    Buckets come by arithmetic on period numbers when the periods are regular
    (``numbering``), else by a range join against the ``buckets`` table (the general
    path; tests compare the two)."""
    n = len(periods)
    if members is None:
        grouped = table.mutate(group_id=ibis.literal(WHOLE_SCOPE))
    else:
        chosen = members.select(group_id=members.group_id, member_id=members.customer_id)
        joined = table.join(chosen, table.customer_id == chosen.member_id)
        grouped = joined.select(*[joined[c] for c in table.columns], joined.group_id)
    if numbered is not None:
        end = periods[-1].end
        ranged = grouped.mutate(
            lo=_bucket_expr(grouped.start_date, numbered, n, end),
            hi=_bucket_expr(grouped.end_date, numbered, n, end),
        )
    else:
        assert buckets is not None, "the general path needs the buckets table"
        past = ibis.literal(n + 1, "int64")
        with_lo = _bucket_of(grouped, "start_date", buckets, "lo")
        with_hi = _bucket_of(with_lo, "end_date", buckets, "hi")
        ranged = with_hi.mutate(lo=with_hi.lo.fill_null(past), hi=with_hi.hi.fill_null(past))
    return ranged.filter(ranged.lo < ranged.hi)


def _level_deltas(ranged: ir.Table, n: int) -> ir.Table:
    """``group_id, j, currency, v``: the change of the MRR levels at measuring day j."""
    zero = ibis.literal(0, "int64")
    up = ranged.select("group_id", "currency", j=ranged.lo, v=ranged.level_minor + zero)
    gone = ranged.filter(ranged.hi <= n)
    down = gone.select("group_id", "currency", j=gone.hi, v=zero - gone.level_minor)
    both = up.union(down, distinct=False)
    return both.group_by(["group_id", "j", "currency"]).agg(v=both.v.sum().cast("int64"))


def _count_deltas(spells: ir.Table, n: int) -> ir.Table:
    """``group_id, j, k``: the change of the paying members' count at measuring day j."""
    one = ibis.literal(1, "int64")
    up = spells.select("group_id", j=spells.lo, k=one)
    gone = spells.filter(spells.hi <= n)
    down = gone.select("group_id", j=gone.hi, k=-one)
    both = up.union(down, distinct=False)
    return both.group_by(["group_id", "j"]).agg(k=both.k.sum().cast("int64"))


def changed_sums(ranged: ir.Table, factors: ir.Table, bounds: ir.Table, n: int) -> ir.Table:
    """``group_id, i, movement, currency, s, e, members``: the movements of the members
    whose MRR changed inside period i, summed per currency (``members`` counts each
    member once, on its first currency)."""
    return classified_sums(changed_pairs(ranged, n), factors, bounds)


def classified_sums(pairs: ir.Table, factors: ir.Table, bounds: ir.Table) -> ir.Table:
    """``group_id, i, movement, currency, s, e, members`` of the (member, period) pairs
    ``pairs`` (``group_id, customer_id, i, currency, s, e, paid_started_at``), each
    classified at period i's factors."""
    moves = _classify(pairs, factors, bounds)
    tagged = pairs.join(moves, ["group_id", "customer_id", "i"])
    first_currency = ibis.row_number().over(
        group_by=[tagged.group_id, tagged.customer_id, tagged.i], order_by=tagged.currency
    )
    tagged = tagged.mutate(one=ibis.ifelse(first_currency == 0, 1, 0).cast("int64"))
    return tagged.group_by(["group_id", "i", "movement", "currency"]).agg(
        s=tagged.s.sum().cast("int64"),
        e=tagged.e.sum().cast("int64"),
        members=tagged.one.sum().cast("int64"),
    )


def _classify(pairs: ir.Table, factors: ir.Table, bounds: ir.Table) -> ir.Table:
    """``group_id, customer_id, i, movement``: one row per changed member and period."""
    rated = pairs.join(factors, ["currency", "i"])
    per_member = rated.group_by(["group_id", "customer_id", "i"]).agg(
        s_pos=(rated.s > 0).any(),
        e_pos=(rated.e > 0).any(),
        diff=((rated.e - rated.s).cast("float64") * rated.f).sum(),
        paid=rated.paid_started_at.min(),
    )
    joined = per_member.join(bounds, "i")
    first_paid_inside = (joined.paid >= joined.first) & (joined.paid <= joined.last)
    movement = ibis.cases(
        (joined.s_pos & ~joined.e_pos, Movement.churn.value),
        (~joined.s_pos & first_paid_inside.fill_null(False), Movement.new.value),
        (~joined.s_pos, Movement.reactivation.value),
        (joined.diff > 0, Movement.expansion.value),
        (joined.diff < 0, Movement.contraction.value),
        else_=Movement.flat.value,
    )
    return joined.select("group_id", "customer_id", "i", movement=movement)


# -- exact assembly ---------------------------------------------------------------------


def running_sums(
    deltas: list[dict[str, Any]], key: str, n: int
) -> dict[tuple[Any, ...], list[int]]:
    """Running sums over the measuring days ``0..n`` per (group[, currency])."""
    steps: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * (n + 2))
    for row in deltas:
        parts = (str(row["group_id"]),) + ((str(row["currency"]),) if "currency" in row else ())
        steps[parts][int(row["j"])] += int(row[key])
    totals: dict[tuple[Any, ...], list[int]] = {}
    for parts, changes in steps.items():
        running, total = [], 0
        for change in changes[: n + 1]:
            total += change
            running.append(total)
        totals[parts] = running
    return totals


def assemble(
    periods: Sequence[Window],
    rate_days: list[date],
    target: str,
    book: RateBook,
    levels: list[dict[str, Any]],
    paying: list[dict[str, Any]],
    moved: list[dict[str, Any]],
) -> MovementTable:
    # every product and sum exact, so the totals do not depend on the rows' order
    with localcontext(prec=EXACT_PRECISION):
        n = len(periods)
        level_sums = running_sums(levels, "v", n)
        counts = running_sums(paying, "k", n)
        by_period: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for row in moved:
            by_period[(str(row["group_id"]), int(row["i"]))].append(row)
        groups: dict[str, list[PeriodMovements]] = {}
        for group in sorted({g for g, _ in level_sums} | {g for (g,) in counts}):
            own = {c: sums for (g, c), sums in level_sums.items() if g == group}
            paying_days = counts.get((group,), [0] * (n + 1))
            series = []
            for i, window in enumerate(periods, start=1):
                starting = ending = previous = ZERO
                for code, sums in own.items():
                    factor = book.minor_factor(code, target, rate_days[i])
                    starting += sums[i - 1] * factor
                    ending += sums[i] * factor
                    previous += sums[i - 1] * book.minor_factor(code, target, rate_days[i - 1])
                amounts: dict[Movement, Decimal] = defaultdict(lambda: ZERO)
                members: dict[Movement, int] = defaultdict(int)
                for row in by_period.get((group, i), []):
                    movement = Movement(row["movement"])
                    factor = book.minor_factor(row["currency"], target, rate_days[i])
                    s, e = int(row["s"]) * factor, int(row["e"]) * factor
                    amounts[movement] += _movement_amount(movement, s, e)
                    members[movement] += int(row["members"])
                amounts.pop(Movement.flat, None)
                members.pop(Movement.flat, None)
                series.append(
                    PeriodMovements(
                        window=window,
                        starting_mrr=starting,
                        ending_mrr=ending,
                        fx_impact=starting - previous,
                        movements=dict(amounts),
                        counts=dict(members),
                        paying_at_start=paying_days[i - 1],
                        paying_at_end=paying_days[i],
                    )
                )
            groups[group] = series
        return MovementTable(windows=tuple(periods), groups=groups)


def _movement_amount(movement: Movement, s: Decimal, e: Decimal) -> Decimal:
    """The amount one (member, currency) part adds to its movement's total."""
    match movement:
        case Movement.churn:
            return s
        case Movement.new | Movement.reactivation:
            return e
        case Movement.expansion:
            return e - s
        case Movement.contraction:
            return s - e
        case Movement.flat:
            return ZERO


__all__ = ["cohort_movements"]
