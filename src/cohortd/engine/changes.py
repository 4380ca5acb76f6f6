"""Change points of a customer's MRR history, and the ones a write makes new (SPEC §7).

A change point is a day on which the customer's MRR differs from the day before. Each
one is classified as a subscription event type: ``activated`` (0 → paid, the first paid
day ever), ``reactivated`` (0 → paid after an earlier paid spell), ``upgraded`` /
``downgraded`` (paid → more / less, still paid) or ``cancelled`` (paid → 0).

Amounts are integer minor units of one currency per customer, the *event currency*:
its billing currency (SPEC §1: the given one, else that of its earliest row). Rows in
another currency are converted with ``convert`` at the change day's rate, rounded half
away from zero once per row; a customer whose rows all share the event currency is never
converted, so its amounts are exact. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

# minor units of ``currency`` -> minor units of the event currency on ``day``
Converter = Callable[[int, str, date], int]


class ChangeKind(StrEnum):
    """The ``subscription.*`` event types of SPEC §7."""

    activated = "subscription.activated"
    upgraded = "subscription.upgraded"
    downgraded = "subscription.downgraded"
    cancelled = "subscription.cancelled"
    reactivated = "subscription.reactivated"


@dataclass(frozen=True, slots=True)
class MrrRow:
    """One subscription row: a stretch of constant MRR (``end_date`` exclusive)."""

    id: str
    plan_id: str | None
    currency: str
    mrr_minor: int
    start_date: date
    end_date: date | None
    status: str | None = None

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day < self.end_date)


@dataclass(frozen=True, slots=True)
class DayState:
    """A customer on one day: MRR (event currency), derived plan and status (SPEC §1)."""

    mrr: int
    plan_id: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """The MRR moved on ``day`` from ``previous_mrr`` to ``mrr`` (event currency)."""

    day: date
    kind: ChangeKind
    currency: str
    previous_mrr: int
    mrr: int
    previous_plan_id: str | None
    plan_id: str | None
    status: str | None  # derived status on ``day``, after the change

    @property
    def key(self) -> tuple[date, int, int]:
        """What makes a change point the same one in two versions of a history."""
        return (self.day, self.previous_mrr, self.mrr)


def event_currency(rows: Sequence[MrrRow], billing_currency: str | None) -> str | None:
    """The given billing currency, else the currency of the earliest row (start, then id)."""
    if billing_currency:
        return billing_currency
    if not rows:
        return None
    return min(rows, key=lambda r: (r.start_date, r.id)).currency


def state_on(
    rows: Sequence[MrrRow], day: date, *, currency: str, convert: Converter | None = None
) -> DayState:
    """MRR, plan and status on ``day`` (SPEC §1's derivation)."""
    covering = [r for r in rows if r.covers(day)]
    mrr = sum(_amount(r, day, currency, convert) for r in covering)
    plan = None
    if covering:
        # the row with the highest MRR; ties: the smallest plan_id
        best = min(covering, key=lambda r: (-r.mrr_minor, r.plan_id or ""))
        plan = best.plan_id
    return DayState(mrr=mrr, plan_id=plan, status=_status(rows, covering, day, mrr))


def change_points(
    rows: Sequence[MrrRow], *, currency: str, convert: Converter | None = None
) -> list[ChangePoint]:
    """Every change point of the history, oldest first."""
    days = sorted({r.start_date for r in rows} | {r.end_date for r in rows if r.end_date})
    points: list[ChangePoint] = []
    paid_before = False
    for day in days:
        before = state_on(rows, day - timedelta(days=1), currency=currency, convert=convert)
        # both sides at the change day's rate: a rate move alone is no change
        before_mrr = sum(
            _amount(r, day, currency, convert) for r in rows if r.covers(day - timedelta(days=1))
        )
        after = state_on(rows, day, currency=currency, convert=convert)
        if before_mrr == after.mrr:
            continue
        points.append(
            ChangePoint(
                day=day,
                kind=_kind(before_mrr, after.mrr, paid_before=paid_before),
                currency=currency,
                previous_mrr=before_mrr,
                mrr=after.mrr,
                previous_plan_id=before.plan_id,
                plan_id=after.plan_id,
                status=after.status,
            )
        )
        paid_before = paid_before or after.mrr > 0
    return points


def new_change_points(
    before: Sequence[MrrRow],
    after: Sequence[MrrRow],
    *,
    currency: str,
    convert: Converter | None = None,
    since: date | None = None,
) -> list[ChangePoint]:
    """The change points of ``after`` that ``before`` did not have (same day, same MRR
    before and after), on or after ``since`` (older ones make no event)."""
    known = {p.key for p in change_points(before, currency=currency, convert=convert)}
    return [
        p
        for p in change_points(after, currency=currency, convert=convert)
        if p.key not in known and (since is None or p.day >= since)
    ]


def conversion_days(
    rows: Iterable[MrrRow], currency: str, *, also: Iterable[date] = ()
) -> set[tuple[str, date]]:
    """The (currency, day) rates ``change_points`` will ask ``convert`` for, and
    ``state_on`` on the days ``also``: when a row is in another currency than the event
    currency, every currency of the rows on every boundary day of every row, on the day
    before it (the state just before a change) and on the days ``also``."""
    rows = list(rows)
    foreign = {r.currency for r in rows if r.currency != currency}
    if not foreign:
        return set()
    bounds = {r.start_date for r in rows} | {r.end_date for r in rows if r.end_date}
    days = bounds | {d - timedelta(days=1) for d in bounds} | set(also)
    return {(code, day) for code in foreign | {currency} for day in days}


def _amount(row: MrrRow, day: date, currency: str, convert: Converter | None) -> int:
    if row.currency == currency or row.mrr_minor == 0:
        return row.mrr_minor
    if convert is None:
        raise ValueError(f"a {row.currency} row needs a converter to {currency}")
    return convert(row.mrr_minor, row.currency, day)


def _kind(before: int, after: int, *, paid_before: bool) -> ChangeKind:
    if after == 0:
        return ChangeKind.cancelled
    if before == 0:
        return ChangeKind.reactivated if paid_before else ChangeKind.activated
    return ChangeKind.upgraded if after > before else ChangeKind.downgraded


def _status(rows: Sequence[MrrRow], covering: list[MrrRow], day: date, mrr: int) -> str | None:
    if mrr > 0:
        return "active"
    if any(r.status == "paused" for r in covering):
        return "paused"
    if covering:
        return "trialing"
    ended = [r for r in rows if r.end_date is not None and r.end_date <= day]
    if not ended:
        return None
    last = max(ended, key=lambda r: (r.end_date or day, r.id))
    return "lapsed" if last.status == "lapsed" else "cancelled"
