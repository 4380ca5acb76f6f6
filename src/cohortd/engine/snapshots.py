"""Cohort snapshots (SPEC §4): MRR movements per period, NRR and GRR, FX-neutral.

For period p of a member set, each member has ``s`` = MRR on the last day of p − 1 and
``e`` = MRR on p's evaluation day (its last day, capped at today), BOTH converted at the
rate of p's evaluation day, so exchange-rate moves never show up as expansion or churn.
The movements themselves come from ``engine.movements`` (the building block metrics and
the cohort comparison share); this module adds what only a snapshot has: the member
count (members signed up by the period's evaluation day), the recorded health and risk
averages, NRR and GRR, and the §4 JSON entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.money import round_half_away
from cohortd.engine.movement_model import Movement, PeriodMovements, period_windows
from cohortd.engine.movements import cohort_movements
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.scores import average, score_sums
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
ARR_MONTHS: Final = 12
_ONE_GROUP: Final = "members"
SNAPSHOT_INTERVALS: Final = (Interval.month, Interval.quarter)


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
    grouped = members.select(group_id=ibis.literal(_ONE_GROUP), customer_id=members.customer_id)
    windows = period_windows(
        query.interval, query.first_period, query.last_period, today=query.today
    )
    table = cohort_movements(
        warehouse, scope, members=grouped, periods=windows, currency=query.base_currency
    )
    customers = scoped(warehouse, CUSTOMERS, scope)
    mine = customers.semi_join(members, customers.id == members.customer_id)
    signed = mine.select(signed_up=mine.created_at.date())
    signups = warehouse.to_pyarrow(signed.group_by("signed_up").agg(n=signed.count())).to_pylist()
    return [
        from_movements(
            moved,
            member_count=_signed_up_by(signups, moved.window.end),
            scores=(scores or {}).get(period, Scores()),
        )
        for period, moved in zip(query.periods(), table.series(_ONE_GROUP), strict=True)
    ]


def from_movements(
    moved: PeriodMovements, *, member_count: int, scores: Scores | None = None
) -> PeriodSnapshot:
    """SPEC §4's snapshot of one period from its movements."""
    return PeriodSnapshot(
        period_start=moved.window.start,
        period_end=moved.window.last,
        starting_mrr=moved.starting_mrr,
        movements=dict(moved.movements),
        ending_mrr=moved.ending_mrr,
        fx_impact=moved.fx_impact,
        churn_count=moved.count(Movement.churn),
        member_count=member_count,
        scores=scores or Scores(),
    )


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


__all__ = [
    "SNAPSHOT_INTERVALS",
    "Movement",
    "PeriodSnapshot",
    "Scores",
    "SnapshotQuery",
    "default_periods",
    "from_movements",
    "member_ids",
    "member_scores",
    "snapshot_series",
]
