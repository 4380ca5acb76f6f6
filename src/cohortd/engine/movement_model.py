"""The values of MRR movements (``engine.movements`` computes them): how a member's MRR
moved within a period (``Movement``), the periods a computation covers (``Window``) and
one group's values per period (``PeriodMovements``, ``MovementTable``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Final

from cohortd.engine.periods import Interval, evaluation_day, first_day, last_day

ZERO: Final = Decimal(0)
WHOLE_SCOPE: Final = ""  # the group id when a computation's ``members`` is None


class Movement(StrEnum):
    """How one member's MRR moved from s to e within a period."""

    new = "new"
    reactivation = "reactivation"
    expansion = "expansion"
    contraction = "contraction"
    churn = "churn"
    flat = "flat"  # paying on both days, same amount


@dataclass(frozen=True)
class Window:
    """One period: ``start`` and ``last`` calendar days, ``end`` its evaluation day
    (``last``, or an earlier cut-off when the period is not over)."""

    start: date
    last: date
    end: date

    @property
    def complete(self) -> bool:
        return self.end == self.last


def period_windows(interval: Interval, first: int, last: int, *, today: date) -> list[Window]:
    """The windows of period numbers ``first..last`` of ``interval``, cut at ``today``."""
    return [
        Window(
            start=first_day(p, interval),
            last=last_day(p, interval),
            end=evaluation_day(p, as_of=today, interval=interval),
        )
        for p in range(first, last + 1)
    ]


def day_windows(first: date, last: date) -> list[Window]:
    """One window per day ``first..last`` (daily series)."""
    count = (last - first).days + 1
    days = [first + timedelta(days=k) for k in range(count)]
    return [Window(start=d, last=d, end=d) for d in days]


def measuring_days(windows: Sequence[Window]) -> list[date]:
    """``d_0`` = the day before the first window, then each window's evaluation day.

    Raises ``ValueError`` unless the windows are consecutive and only the last may be
    cut short (so that each window's s-day is the previous one's evaluation day)."""
    if not windows:
        raise ValueError("at least one period")
    for before, after in pairwise(windows):
        if not before.complete or after.start != before.last + timedelta(days=1):
            raise ValueError("periods must be consecutive, only the last one cut short")
    return [windows[0].start - timedelta(days=1), *(w.end for w in windows)]


@dataclass(frozen=True)
class PeriodMovements:
    """One group's exact values for one period, in the target currency (unrounded)."""

    window: Window
    starting_mrr: Decimal
    ending_mrr: Decimal
    fx_impact: Decimal
    movements: Mapping[Movement, Decimal]
    counts: Mapping[Movement, int]  # members per movement (flat ones not counted)
    paying_at_start: int  # #{s > 0}
    paying_at_end: int  # #{e > 0}

    def moved(self, movement: Movement) -> Decimal:
        return self.movements.get(movement, ZERO)

    def count(self, movement: Movement) -> int:
        return self.counts.get(movement, 0)

    @property
    def net_new_mrr(self) -> Decimal:
        return (
            self.moved(Movement.new)
            + self.moved(Movement.reactivation)
            + self.moved(Movement.expansion)
            - self.moved(Movement.contraction)
            - self.moved(Movement.churn)
        )


@dataclass(frozen=True)
class MovementTable:
    """Every group's series (a group without any paying member has none stored)."""

    windows: tuple[Window, ...]
    groups: Mapping[str, list[PeriodMovements]] = field(default_factory=dict)

    def series(self, group_id: str = WHOLE_SCOPE) -> list[PeriodMovements]:
        """The group's periods, oldest first; zeros for a group nobody paid in."""
        found = self.groups.get(group_id)
        if found is not None:
            return found
        return [
            PeriodMovements(w, ZERO, ZERO, ZERO, {}, {}, paying_at_start=0, paying_at_end=0)
            for w in self.windows
        ]
