"""Cohort snapshots (SPEC §4): MRR movements per period, NRR and GRR, FX-neutral.

For period p of a member set, each member has ``s`` = MRR on the last day of p − 1 and
``e`` = MRR on p's evaluation day (its last day, capped at today), BOTH converted at the
rate of p's evaluation day, so exchange-rate moves never show up as expansion or churn.
Movements: s > 0, e = 0 → churn (s); s = 0, e > 0 → new when the member first paid inside
p, else reactivation (e); both > 0 → expansion or contraction by |e − s|.

``fx_impact`` = Σ s at p's rate − Σ s at (p − 1)'s rate: what rates alone changed, so that
``ending_mrr(p − 1) + fx_impact(p) = starting_mrr(p)`` (both sides at their own rates).

Shape of the computation: per (member, day, currency) MRR in minor units is one grouped
interval join against the 1 + n measuring days; every member-period is classified in SQL
(the sign of e − s uses float factors only to decide the comparison, and is exact for a
single-currency member); then the sums per (period, movement, currency) come back as
integers and are converted here with exact ``Decimal`` factors (``engine.fx.RateBook``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from cohortd.engine.facts import paid_started
from cohortd.engine.fx import RateBook
from cohortd.engine.money import round_half_away
from cohortd.engine.periods import Interval, evaluation_day, first_day, last_day, period_of
from cohortd.engine.scores import average, score_sums
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SUBSCRIPTIONS

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
ARR_MONTHS: Final = 12
SNAPSHOT_INTERVALS: Final = (Interval.month, Interval.quarter)


class Movement(StrEnum):
    """How one member's MRR moved from s to e within a period."""

    new = "new"
    reactivation = "reactivation"
    expansion = "expansion"
    contraction = "contraction"
    churn = "churn"
    flat = "flat"  # paying on both days, same amount


@dataclass(frozen=True)
class SnapshotQuery:
    """Periods ``first_period..last_period`` (integer period numbers) of ``interval``."""

    interval: Interval
    first_period: int
    last_period: int
    today: date
    base_currency: str

    def periods(self) -> range:
        return range(self.first_period, self.last_period + 1)

    def measuring_days(self) -> list[date]:
        """Day 0 is the last day before the first period; day i the i-th period's end."""
        start = last_day(self.first_period - 1, self.interval)
        ends = [evaluation_day(p, as_of=self.today, interval=self.interval) for p in self.periods()]
        return [start, *ends]


@dataclass(frozen=True)
class Scores:
    """Average health and risk scores for one period (None: nothing recorded)."""

    health: Decimal | None = None
    risk: Decimal | None = None


@dataclass(frozen=True)
class PeriodSnapshot:
    """One period's exact values; ``as_json`` rounds them (half away from zero)."""

    period_start: date
    period_end: date
    starting_mrr: Decimal
    movements: Mapping[Movement, Decimal]
    ending_mrr: Decimal
    fx_impact: Decimal
    churn_count: int
    member_count: int
    scores: Scores = field(default_factory=Scores)

    def moved(self, movement: Movement) -> Decimal:
        return self.movements.get(movement, ZERO)

    @property
    def nrr(self) -> Decimal | None:
        """100 × (starting + expansion − contraction − churn) / starting; None at 0."""
        if self.starting_mrr == 0:
            return None
        kept = (
            self.starting_mrr
            + self.moved(Movement.expansion)
            - self.moved(Movement.contraction)
            - self.moved(Movement.churn)
        )
        return HUNDRED * kept / self.starting_mrr

    @property
    def grr(self) -> Decimal | None:
        """100 × (starting − contraction − churn) / starting, capped at 100; None at 0."""
        if self.starting_mrr == 0:
            return None
        kept = self.starting_mrr - self.moved(Movement.contraction) - self.moved(Movement.churn)
        return min(HUNDRED, HUNDRED * kept / self.starting_mrr)

    def as_json(self) -> dict[str, Any]:
        """SPEC §4's entry, exactly these names, rounded at the end."""
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "starting_mrr": rounded(self.starting_mrr),
            "new_mrr": rounded(self.moved(Movement.new)),
            "reactivation_mrr": rounded(self.moved(Movement.reactivation)),
            "expansion_mrr": rounded(self.moved(Movement.expansion)),
            "contraction_mrr": rounded(self.moved(Movement.contraction)),
            "churn_mrr": rounded(self.moved(Movement.churn)),
            "ending_mrr": rounded(self.ending_mrr),
            "fx_impact": rounded(self.fx_impact),
            "starting_arr": rounded(ARR_MONTHS * self.starting_mrr),
            "ending_arr": rounded(ARR_MONTHS * self.ending_mrr),
            "churn_count": self.churn_count,
            "member_count": self.member_count,
            "nrr": rounded(self.nrr),
            "grr": rounded(self.grr),
            "avg_health_score": rounded(self.scores.health),
            "avg_risk_score": rounded(self.scores.risk),
        }


def rounded(value: Decimal | None) -> float | None:
    """2 decimals, half away from zero; None stays None (JSON null)."""
    return None if value is None else float(round_half_away(value))


def _days_table(days: list[date]) -> ir.Table:
    return ibis.memtable(
        pa.table(
            {"idx": pa.array(range(len(days)), pa.int64()), "day": pa.array(days, pa.date32())}
        )
    )


def member_mrr(subscriptions: ir.Table, members: ir.Table, days: ir.Table) -> ir.Table:
    """``customer_id, idx, currency, m``: each member's MRR in minor units on each day of
    ``days`` (``idx, day``).

    Only paying rows matter: MRR is never negative, so a sum of zero rows is zero.
    """
    paying = subscriptions.filter(subscriptions.mrr_minor > 0)
    paying = paying.semi_join(members, paying.customer_id == members.customer_id)
    covered = paying.join(
        days,
        [
            paying.start_date <= days.day,
            paying.end_date.isnull() | (paying.end_date > days.day),
        ],
    )
    return covered.group_by(["customer_id", "idx", "currency"]).agg(m=covered.mrr_minor.sum())


def start_end_pairs(mrr: ir.Table, periods: int) -> ir.Table:
    """``customer_id, i, currency, s, e``: period i's s (day i − 1) and e (day i) per currency."""
    zero = ibis.literal(0, "int64")
    as_start = mrr.filter(mrr.idx < periods).select(
        "customer_id", i=mrr.idx + 1, currency=mrr.currency, s=mrr.m, e=zero
    )
    as_end = mrr.filter(mrr.idx >= 1).select(
        "customer_id", i=mrr.idx, currency=mrr.currency, s=zero, e=mrr.m
    )
    both = as_start.union(as_end, distinct=False)
    return both.group_by(["customer_id", "i", "currency"]).agg(s=both.s.sum(), e=both.e.sum())


def classify(pairs: ir.Table, factors: ir.Table, paid: ir.Table, bounds: ir.Table) -> ir.Table:
    """``customer_id, i, movement``: one row per member and period it paid in at s or e.

    ``factors`` (``currency, i, f``) only decide the sign of e − s for members billed in
    several currencies; ``bounds`` (``i, first, last``) tell whether a first payment
    (``paid``: ``customer_id, paid_started_at``) fell inside period i.
    """
    rated = pairs.join(factors, ["currency", "i"])
    per_member = rated.group_by(["customer_id", "i"]).agg(
        s_pos=(rated.s > 0).any(),
        e_pos=(rated.e > 0).any(),
        diff=((rated.e - rated.s).cast("float64") * rated.f).sum(),
    )
    joined = per_member.left_join(paid, "customer_id").join(bounds, "i")
    first_paid_inside = (joined.paid_started_at >= joined.first) & (
        joined.paid_started_at <= joined.last
    )
    movement = ibis.cases(
        (joined.s_pos & ~joined.e_pos, Movement.churn.value),
        (~joined.s_pos & first_paid_inside.fill_null(False), Movement.new.value),
        (~joined.s_pos, Movement.reactivation.value),
        (joined.diff > 0, Movement.expansion.value),
        (joined.diff < 0, Movement.contraction.value),
        else_=Movement.flat.value,
    )
    return joined.select(customer_id=joined.customer_id, i=joined.i, movement=movement)


@dataclass(frozen=True)
class SnapshotPlan:
    """The expressions a snapshot series is computed from (``explain`` shows their SQL)."""

    sums: ir.Table  # i, movement, currency, s, e
    churn_counts: ir.Table  # i, churned
    signups: ir.Table  # signed_up (date), n


@dataclass(frozen=True)
class Lookups:
    """The small tables a snapshot query joins: measuring days, period bounds, factors."""

    days: ir.Table  # idx, day
    bounds: ir.Table  # i, first, last
    factors: ir.Table  # currency, i, f


def lookup_rows(query: SnapshotQuery) -> dict[str, pa.Table]:
    """Arrow rows of the days and bounds lookups (factors come from ``_factor_rows``)."""
    days = query.measuring_days()
    periods = list(query.periods())
    return {
        "days": pa.table(
            {"idx": pa.array(range(len(days)), pa.int64()), "day": pa.array(days, pa.date32())}
        ),
        "bounds": pa.table(
            {
                "i": pa.array(range(1, len(periods) + 1), pa.int64()),
                "first": pa.array([first_day(p, query.interval) for p in periods], pa.date32()),
                "last": pa.array([last_day(p, query.interval) for p in periods], pa.date32()),
            }
        ),
    }


@contextmanager
def materialized(warehouse: Warehouse, rows: dict[str, pa.Table]) -> Iterator[Lookups]:
    """The lookups as session-local tables, dropped afterwards.

    Real tables carry statistics: DuckDB plans the range join against an in-memory
    (Arrow) table about five times slower than against the same rows in a temp table.
    """
    names = {key: f"_snap_{key}_{uuid.uuid4().hex}" for key in rows}
    try:
        tables = {
            key: warehouse.create_temp_table(names[key], ibis.memtable(table))
            for key, table in rows.items()
        }
        yield Lookups(days=tables["days"], bounds=tables["bounds"], factors=tables["factors"])
    finally:
        for name in names.values():
            warehouse.drop_temp_table(name)


def plan(
    warehouse: Warehouse,
    scope: Scope,
    members: ir.Table,
    query: SnapshotQuery,
    lookups: Lookups,
    mrr: ir.Table | None = None,
) -> SnapshotPlan:
    """Build the queries for ``members`` (a table with ``customer_id``); ``mrr`` is
    ``member_mrr``'s result when already materialized."""
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    count = len(query.measuring_days()) - 1
    if mrr is None:
        mrr = member_mrr(subscriptions, members, lookups.days)
    pairs = start_end_pairs(mrr, count)
    # first payments of the members only: no aggregate over the whole organization
    theirs = subscriptions.semi_join(members, subscriptions.customer_id == members.customer_id)
    moves = classify(pairs, lookups.factors, paid_started(theirs), lookups.bounds)
    tagged = pairs.join(moves, ["customer_id", "i"])
    sums = tagged.group_by(["i", "movement", "currency"]).agg(s=tagged.s.sum(), e=tagged.e.sum())
    churned = moves.filter(moves.movement == Movement.churn.value)
    customers = scoped(warehouse, CUSTOMERS, scope)
    mine = customers.semi_join(members, customers.id == members.customer_id)
    signed = mine.select(signed_up=mine.created_at.date())
    return SnapshotPlan(
        sums=sums,
        churn_counts=churned.group_by("i").agg(churned=churned.count()),
        signups=signed.group_by("signed_up").agg(n=signed.count()),
    )


def member_currencies(warehouse: Warehouse, scope: Scope, members: ir.Table) -> set[str]:
    """The currencies the members' paying rows are billed in."""
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    paying = subscriptions.filter(subscriptions.mrr_minor > 0)
    paying = paying.semi_join(members, paying.customer_id == members.customer_id)
    found = warehouse.to_pyarrow(paying.select("currency").distinct())
    return set(found.column("currency").to_pylist())


def _factor_rows(book: RateBook | None, query: SnapshotQuery, currencies: set[str]) -> pa.Table:
    """``currency, i, f``: float factor to the base currency on period i's day (1.0 each
    when ``book`` is None, for ``explain``)."""
    days = query.measuring_days()
    rows: dict[str, list[Any]] = {"currency": [], "i": [], "f": []}
    for currency in sorted(currencies):
        for i in range(1, len(days)):
            rows["currency"].append(currency)
            rows["i"].append(i)
            factor = book.minor_factor(currency, query.base_currency, days[i]) if book else 1
            rows["f"].append(float(factor))
    return pa.table(
        {
            "currency": pa.array(rows["currency"], pa.string()),
            "i": pa.array(rows["i"], pa.int64()),
            "f": pa.array(rows["f"], pa.float64()),
        }
    )


def snapshot_series(
    warehouse: Warehouse,
    scope: Scope,
    members: ir.Table,
    query: SnapshotQuery,
    *,
    scores: Mapping[int, Scores] | None = None,
) -> list[PeriodSnapshot]:
    """One ``PeriodSnapshot`` per period of ``query`` for ``members`` (``customer_id``).

    ``scores`` maps a period number to its averages (the service reads them from the
    recorded runs). Raises ``UnknownCurrency`` for a currency without rates.
    """
    currencies = member_currencies(warehouse, scope, members)
    days = query.measuring_days()
    book = RateBook.load(
        warehouse, scope, {(c, d) for c in currencies | {query.base_currency} for d in days}
    )
    rows = {**lookup_rows(query), "factors": _factor_rows(book, query, currencies)}
    with materialized(warehouse, rows) as lookups:
        subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
        # computed once, read by both the sums and the churn counts
        name = f"_snap_mrr_{uuid.uuid4().hex}"
        try:
            mrr = warehouse.create_temp_table(
                name, member_mrr(subscriptions, members, lookups.days)
            )
            built = plan(warehouse, scope, members, query, lookups, mrr)
            sums = warehouse.to_pyarrow(built.sums).to_pylist()
            counted = warehouse.to_pyarrow(built.churn_counts).to_pylist()
            signups = warehouse.to_pyarrow(built.signups).to_pylist()
        finally:
            warehouse.drop_temp_table(name)
    churns = {int(r["i"]): int(r["churned"]) for r in counted}
    return assemble(query, book, sums, churns, signups, scores or {})


def assemble(
    query: SnapshotQuery,
    book: RateBook,
    sums: list[dict[str, Any]],
    churns: Mapping[int, int],
    signups: list[dict[str, Any]],
    scores: Mapping[int, Scores],
) -> list[PeriodSnapshot]:
    """Exact snapshots from the integer sums (per period, movement and currency)."""
    days = query.measuring_days()
    by_period: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # a fixed order: Decimal sums round at 28 digits, so the order of the terms shows
    for row in sorted(sums, key=lambda r: (r["movement"], r["currency"])):
        by_period[int(row["i"])].append(row)
    result = []
    for i, period in enumerate(query.periods(), start=1):
        rate_day, previous_day = days[i], days[i - 1]
        starting = ending = fx_base = ZERO
        movements: dict[Movement, Decimal] = defaultdict(lambda: ZERO)
        for row in by_period[i]:
            factor = book.minor_factor(row["currency"], query.base_currency, rate_day)
            s, e = Decimal(int(row["s"])) * factor, Decimal(int(row["e"])) * factor
            starting += s
            ending += e
            previous = book.minor_factor(row["currency"], query.base_currency, previous_day)
            fx_base += Decimal(int(row["s"])) * previous
            movements[Movement(row["movement"])] += _movement_amount(
                Movement(row["movement"]), s, e
            )
        result.append(
            PeriodSnapshot(
                period_start=first_day(period, query.interval),
                period_end=last_day(period, query.interval),
                starting_mrr=starting,
                movements=dict(movements),
                ending_mrr=ending,
                fx_impact=starting - fx_base,
                churn_count=churns.get(i, 0),
                member_count=_signed_up_by(signups, rate_day),
                scores=scores.get(period, Scores()),
            )
        )
    return result


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


def _signed_up_by(signups: list[dict[str, Any]], day: date) -> int:
    """Members that had signed up by the end of ``day`` (membership is as of today)."""
    return sum(int(r["n"]) for r in signups if r["signed_up"] <= day)


def member_scores(warehouse: Warehouse, scope: Scope, members: ir.Table) -> Scores:
    """Today's average health and risk scores of ``members`` (customers without one are
    left out of that average; None when nobody has one)."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    distinct = members.select("customer_id").distinct()
    (row,) = warehouse.to_pyarrow(score_sums(distinct, customers, [])).to_pylist()
    return Scores(
        health=average(row["health_sum"], row["health_n"]),
        risk=average(row["risk_sum"], row["risk_n"]),
    )


def member_ids(warehouse: Warehouse, members: ir.Table) -> list[str]:
    """The member ids, sorted (what a recorded run keeps)."""
    ids = warehouse.to_pyarrow(members.select("customer_id").distinct())
    return sorted(ids.column("customer_id").to_pylist())


def default_periods(interval: Interval, today: date, *, count: int = 12) -> tuple[int, int]:
    """The ``count`` periods ending with the current one (the default window)."""
    current = period_of(today, interval)
    return current - count + 1, current


def explain(
    warehouse: Warehouse, scope: Scope, members: ir.Table, query: SnapshotQuery
) -> dict[str, str]:
    """The SQL of the snapshot queries (lookups as in-memory tables, factors 1.0)."""
    rows = {**lookup_rows(query), "factors": _factor_rows(None, query, {query.base_currency})}
    lookups = Lookups(
        days=ibis.memtable(rows["days"]),
        bounds=ibis.memtable(rows["bounds"]),
        factors=ibis.memtable(rows["factors"]),
    )
    built = plan(warehouse, scope, members, query, lookups)
    return {
        "sums": warehouse.compile(built.sums),
        "churn_counts": warehouse.compile(built.churn_counts),
        "signups": warehouse.compile(built.signups),
    }


__all__ = [
    "SNAPSHOT_INTERVALS",
    "Movement",
    "PeriodSnapshot",
    "Scores",
    "SnapshotQuery",
    "default_periods",
    "explain",
    "member_ids",
    "member_scores",
    "snapshot_series",
]
