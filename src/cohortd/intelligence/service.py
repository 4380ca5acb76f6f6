"""Cohort intelligence rules: snapshots, vintage curves and the NRR comparison (SPEC §4).

Every analysis runs over the cohort's members as of today (membership evaluated today,
UTC) and in ``baseCurrency`` (default: the organization's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from sqlalchemy.orm import Session

from cohortd import clock
from cohortd.api.bounds import DAY_RANGE, MAX_DAY, MIN_DAY, day_in_range
from cohortd.cohorts import service as cohorts
from cohortd.cohorts.models import Cohort as CohortRow
from cohortd.cohorts.schemas import CohortType
from cohortd.engine import batched, curves
from cohortd.engine.money import is_currency
from cohortd.engine.periods import Interval, first_day, last_day, period_of
from cohortd.engine.snapshots import (
    PeriodSnapshot,
    Scores,
    SnapshotQuery,
    member_scores,
    rounded,
    snapshot_series,
)
from cohortd.errors import InvalidParameter
from cohortd.intelligence import kept, repository
from cohortd.intelligence.models import CohortRecording
from cohortd.warehouse import Scope, Warehouse

DEFAULT_WINDOW: Final = 12  # periods shown when neither from nor to is given
MAX_PERIODS: Final = 240
_PERIOD_LABEL: Final = re.compile(r"^(\d{4})-(?:(\d{2})|Q([1-4]))$")


@dataclass(frozen=True)
class Caller:
    """Who asks: tenant plus the organization's base currency."""

    org_id: str
    livemode: bool
    base_currency: str

    @property
    def scope(self) -> Scope:
        return Scope(org_id=self.org_id, livemode=self.livemode)


# -- parameters -------------------------------------------------------------------------


def parse_interval(value: str | None) -> Interval:
    """``month`` (default) or ``quarter``; anything else is a 400 naming ``interval``."""
    name = (value or "month").strip().lower()
    if name not in (Interval.month.value, Interval.quarter.value):
        raise InvalidParameter("interval", "must be 'month' or 'quarter'")
    return Interval(name)


def parse_day(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(name, "must be a date, YYYY-MM-DD") from None
    return day_in_range(name, day)


def parse_currency(value: str | None, default: str) -> str:
    code = (value or default).strip().upper()
    if not is_currency(code):
        raise InvalidParameter("baseCurrency", f"'{code[:12]}' is not an ISO 4217 currency")
    return code


def parse_period(value: str | None, interval: Interval, today: date) -> int:
    """A period named by a day inside it, ``YYYY-MM`` (month) or ``YYYY-Qn`` (quarter);
    default: the last complete period. A period not yet complete is allowed (it shows
    movements so far); one after today's is a 400."""
    current = period_of(today, interval)
    if value is None or value == "":
        return current - 1
    match = _PERIOD_LABEL.match(value.strip())
    if match and not MIN_DAY.year <= int(match.group(1)) <= MAX_DAY.year:
        raise InvalidParameter("period", DAY_RANGE)
    if match and match.group(2) and interval is Interval.month and 1 <= int(match.group(2)) <= 12:
        period = period_of(date(int(match.group(1)), int(match.group(2)), 1), interval)
    elif match and match.group(3) and interval is Interval.quarter:
        period = period_of(date(int(match.group(1)), 3 * int(match.group(3)) - 2, 1), interval)
    else:
        day = parse_day("period", value)
        assert day is not None
        period = period_of(day, interval)
    if period > current:
        raise InvalidParameter("period", "must not be after the current period")
    return period


def snapshot_window(
    interval: Interval, start: date | None, end: date | None, today: date
) -> tuple[int, int]:
    """Period numbers from ``start``'s to ``end``'s (capped at the current period)."""
    current = period_of(today, interval)
    last = min(period_of(end, interval), current) if end else current
    first = period_of(start, interval) if start else last - DEFAULT_WINDOW + 1
    if start and start > today:
        raise InvalidParameter("from", "must not be after today")
    if first > last:
        raise InvalidParameter("from", "must not be after 'to'")
    if last - first + 1 > MAX_PERIODS:
        raise InvalidParameter("from", f"at most {MAX_PERIODS} periods per request")
    return first, last


# -- snapshots --------------------------------------------------------------------------


def recorded_scores(
    recordings: list[CohortRecording], interval: Interval, periods: range
) -> dict[int, Scores]:
    """Per period, the averages of the latest recording made inside it."""
    found: dict[int, Scores] = {}
    for row in recordings:  # oldest first: a later recording in a period wins
        period = period_of(row.run_date, interval)
        if period in periods:
            found[period] = Scores(health=_dec(row.avg_health_score), risk=_dec(row.avg_risk_score))
    return found


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def period_snapshots(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    row: CohortRow,
    query: SnapshotQuery,
    *,
    with_scores: bool = True,
) -> list[PeriodSnapshot]:
    """Snapshots of one cohort; scores: recorded runs for past periods, today's averages
    for the current one."""
    members = cohorts.cohort_members_table(session, warehouse, caller, row.id)
    scores: dict[int, Scores] = {}
    if with_scores:
        history = repository.recordings(
            session, org_id=caller.org_id, livemode=caller.livemode, cohort_id=row.id
        )
        scores = recorded_scores(history, query.interval, query.periods())
        current = period_of(query.today, query.interval)
        if current in query.periods():
            scores[current] = member_scores(warehouse, caller.scope, members)
    return snapshot_series(warehouse, caller.scope, members, query, scores=scores)


def cohort_snapshots(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    cohort_id: str,
    *,
    interval: str | None,
    start: str | None,
    end: str | None,
    base_currency: str | None,
) -> dict[str, Any]:
    """``GET /v1/cohorts/{id}/snapshots``: ``{"object": "list", "data": [...]}``."""
    today = clock.today()
    parsed = parse_interval(interval)
    currency = parse_currency(base_currency, caller.base_currency)
    first, last = snapshot_window(parsed, parse_day("from", start), parse_day("to", end), today)
    row = cohorts.get_cohort_row(session, caller, cohort_id)
    query = SnapshotQuery(parsed, first, last, today, currency)
    data = period_snapshots(session, warehouse, caller, row, query)
    return {"object": "list", "data": [s.as_json() for s in data]}


# -- curve ------------------------------------------------------------------------------


def parse_months(value: int | None) -> int:
    months = curves.DEFAULT_MONTHS if value is None else value
    if not 0 <= months <= curves.MAX_MONTHS:
        raise InvalidParameter("months", f"must be between 0 and {curves.MAX_MONTHS}")
    return months


def cohort_curve(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    cohort_id: str,
    *,
    months: int | None,
    base_currency: str | None,
) -> dict[str, Any]:
    """``GET /v1/cohorts/{id}/curve``."""
    span = parse_months(months)
    currency = parse_currency(base_currency, caller.base_currency)
    members = cohorts.cohort_members_table(session, warehouse, caller, cohort_id)
    curve = curves.vintage_curve(
        warehouse,
        caller.scope,
        members,
        today=clock.today(),
        base_currency=currency,
        months=span,
    )
    return {
        "cohort_id": cohort_id,
        "livemode": caller.livemode,
        "months": span,
        **curve.as_json(),
    }


# -- comparison -------------------------------------------------------------------------


def dense_ranks(values: list[Decimal | None]) -> list[int | None]:
    """Dense ranks, highest first; None stays unranked."""
    distinct = sorted({v for v in values if v is not None}, reverse=True)
    position = {v: i + 1 for i, v in enumerate(distinct)}
    return [None if v is None else position[v] for v in values]


def flags(ranks: list[int | None]) -> list[str]:
    """``best`` for rank 1, ``worst`` for the last rank; ``normal`` otherwise, and for
    everyone when fewer than two cohorts are ranked or all ranked ones tie."""
    ranked = [r for r in ranks if r is not None]
    if len(ranked) < 2 or max(ranked) == 1:
        return ["normal"] * len(ranks)
    bottom = max(ranked)
    return ["best" if r == 1 else "worst" if r == bottom else "normal" for r in ranks]


def compare(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    *,
    cohort_type: str | None,
    interval: str | None,
    period: str | None,
    base_currency: str | None,
) -> dict[str, Any]:
    """``GET /v1/cohorts/compare``: cohorts ranked by NRR for one period."""
    today = clock.today()
    parsed = parse_interval(interval)
    chosen = parse_period(period, parsed, today)
    currency = parse_currency(base_currency, caller.base_currency)
    kind = parse_cohort_type(cohort_type)
    rows = repository.cohorts(
        session, org_id=caller.org_id, livemode=caller.livemode, cohort_type=kind
    )
    query = SnapshotQuery(parsed, chosen, chosen, today, currency)
    snaps = kept.last_run_month(session, warehouse, caller, rows, query)
    if snaps is None:  # the last run's kept month does not answer it: compute
        snaps = [series[0] for series in all_snapshots(warehouse, caller, rows, query, today)]
    nrrs = [s.nrr for s in snaps]
    ranks = dense_ranks(nrrs)
    entries = [
        {
            "cohort_id": r.id,
            "name": r.name,
            "cohort_type": r.cohort_type,
            "nrr": rounded(s.nrr),
            "grr": rounded(s.grr),
            "starting_mrr": rounded(s.starting_mrr),
            "ending_mrr": rounded(s.ending_mrr),
            "churn_count": s.churn_count,
            "rank": rank,
            "flag": flag,
        }
        for r, s, rank, flag in zip(rows, snaps, ranks, flags(ranks), strict=True)
    ]
    entries.sort(key=lambda e: (e["rank"] is None, e["rank"] or 0, e["name"], e["cohort_id"]))
    return {
        "object": "list",
        "livemode": caller.livemode,
        "interval": parsed.value,
        "period_start": first_day(chosen, parsed).isoformat(),
        "period_end": last_day(chosen, parsed).isoformat(),
        "currency": currency,
        "data": entries,
    }


def all_snapshots(
    warehouse: Warehouse,
    caller: Caller,
    rows: list[CohortRow],
    query: SnapshotQuery,
    today: date,
) -> list[list[PeriodSnapshot]]:
    """The snapshots (without scores) of every cohort of ``rows``, in their order, all
    computed together (``engine.batched``: one membership relation, one computation)."""
    if not rows:
        return []
    definitions = [(r.id, cohorts.engine_definition(r)) for r in rows]
    with batched.member_relation(
        warehouse, caller.scope, definitions, as_of=today, today=today
    ) as relation:
        found = batched.snapshots_by_cohort(
            warehouse, caller.scope, relation, [r.id for r in rows], query
        )
    return [found[r.id] for r in rows]


def parse_cohort_type(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return CohortType(value.strip().lower()).value
    except ValueError:
        allowed = ", ".join(t.value for t in CohortType)
        raise InvalidParameter("cohort_type", f"must be one of {allowed}") from None
