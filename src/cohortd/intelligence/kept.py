"""What a snapshot run keeps for comparisons: each cohort's last complete month.

A run computes, for its anomaly rules, every cohort's snapshots of the last three
complete months in the organization's base currency, its members as of the run's day.
The last of them is kept with the cohort's recording, exactly (decimals as text), and
the run keeps the warehouse's data version it computed on (none if a write landed while
it computed). ``GET /v1/cohorts/compare`` for that month and currency reads them instead
of computing every cohort again, when all of these hold:

- the run is the scope's last successful one and ran today (members as of today);
- the data version is still the one the run computed on (no write since);
- every cohort compared has a kept month and was not created or changed since the run
  started.

Otherwise the comparison computes, as before (``service.all_snapshots``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cohortd.cohorts.models import Cohort as CohortRow
from cohortd.engine.movement_model import Movement
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import PeriodSnapshot, SnapshotQuery
from cohortd.intelligence import repository
from cohortd.warehouse import Warehouse

if TYPE_CHECKING:
    from cohortd.intelligence.service import Caller


def data_version(warehouse: Warehouse, caller: Caller) -> str:
    """The warehouse's data version for the caller's scope, as a run keeps it."""
    with warehouse.reading():
        return ",".join(warehouse.data_version(caller.scope))


def stored_snapshot(snapshot: PeriodSnapshot, currency: str) -> dict[str, Any]:
    """A recording's last complete month, exact (decimals as text, not rounded), with
    the currency its amounts are in: ``read_snapshot`` gives back the same snapshot."""
    return {
        "currency": currency,
        "period_start": snapshot.period_start.isoformat(),
        "period_end": snapshot.period_end.isoformat(),
        "starting_mrr": str(snapshot.starting_mrr),
        "movements": {m.value: str(v) for m, v in snapshot.movements.items()},
        "ending_mrr": str(snapshot.ending_mrr),
        "fx_impact": str(snapshot.fx_impact),
        "churn_count": snapshot.churn_count,
        "member_count": snapshot.member_count,
    }


def read_snapshot(stored: Mapping[str, Any]) -> PeriodSnapshot:
    """The snapshot ``stored_snapshot`` kept (without scores: a comparison has none)."""
    return PeriodSnapshot(
        period_start=date.fromisoformat(stored["period_start"]),
        period_end=date.fromisoformat(stored["period_end"]),
        starting_mrr=Decimal(stored["starting_mrr"]),
        movements={Movement(m): Decimal(v) for m, v in stored["movements"].items()},
        ending_mrr=Decimal(stored["ending_mrr"]),
        fx_impact=Decimal(stored["fx_impact"]),
        churn_count=int(stored["churn_count"]),
        member_count=int(stored["member_count"]),
    )


def last_run_month(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    rows: Sequence[CohortRow],
    query: SnapshotQuery,
) -> list[PeriodSnapshot] | None:
    """The snapshots of ``rows`` for ``query`` (one period) as the last run kept them,
    in their order; None when the run's month does not answer it (see the module)."""
    today = query.today
    month = period_of(today, Interval.month) - 1
    if query.interval is not Interval.month or not query.first_period == query.last_period == month:
        return None
    run = repository.last_succeeded_run(session, org_id=caller.org_id, livemode=caller.livemode)
    if run is None or run.run_date != today or run.data_version is None:
        return None
    started = run.started_at
    if started is None or any(r.updated_at > started or r.created_at > started for r in rows):
        return None
    if run.data_version != data_version(warehouse, caller):
        return None
    kept = repository.kept_snapshots(
        session, org_id=caller.org_id, livemode=caller.livemode, run_id=run.id
    )
    found = [kept.get(r.id) for r in rows]
    if any(k is None or k["currency"] != query.base_currency for k in found):
        return None
    return [read_snapshot(k) for k in found if k is not None]
