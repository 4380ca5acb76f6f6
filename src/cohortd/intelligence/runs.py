"""Recorded snapshot runs (SPEC §4): record every cohort, then detect and store anomalies.

A run is made by ``POST /v1/snapshots/run``, ``cohortd snapshot`` or the daily schedule.
Per cohort it keeps the member count, today's average health and risk scores and the
member set (so ``membership_changes`` can list who entered and left between consecutive
runs). Then the rules of ``engine.anomalies`` run on:

- the last three complete months (NRR of the latest: ``low_nrr``; churn counts of the
  three: ``accelerating_churn``);
- the previous recording's average health (``health_decline``);
- vintage cohorts, oldest quarter first: each at the latest month k its curve has
  complete, against the four previous vintages at k (``lagging_vintage``).

An anomaly is stored once per (cohort, type, period): a later run that sees it again
does not repeat it.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy.orm import Session

from cohortd.api.paging import Page, PageParams
from cohortd.cohorts import service as cohorts
from cohortd.cohorts.models import Cohort as CohortRow
from cohortd.cohorts.schemas import CohortType
from cohortd.engine import anomalies as rules
from cohortd.engine import curves, membership
from cohortd.engine.money import round_half_away
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import SnapshotQuery, member_ids, member_scores
from cohortd.events.run_events import record_run_events
from cohortd.ids import new_id
from cohortd.intelligence import repository
from cohortd.intelligence import settings as thresholds_store
from cohortd.intelligence.models import Anomaly, CohortRecording, SnapshotRun
from cohortd.intelligence.service import Caller, period_snapshots
from cohortd.warehouse import Warehouse

RULE_PERIODS = 3  # accelerating churn looks at three consecutive complete months


def pack_members(ids: list[str]) -> bytes:
    return zlib.compress(json.dumps(ids).encode("utf-8"))


def unpack_members(blob: bytes) -> list[str]:
    return list(json.loads(zlib.decompress(blob).decode("utf-8")))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class RunResult:
    run: SnapshotRun
    anomalies: list[Anomaly]


def record_run(
    session: Session, warehouse: Warehouse, caller: Caller, *, trigger: str
) -> RunResult:
    """Record every cohort of the caller's organization and mode, then detect anomalies."""
    today = membership.utc_today()
    limits = thresholds_store.thresholds(session, caller)
    rows = repository.cohorts(session, org_id=caller.org_id, livemode=caller.livemode)
    previous = repository.latest_recordings(
        session, org_id=caller.org_id, livemode=caller.livemode, cohort_ids=[r.id for r in rows]
    )
    run = SnapshotRun(
        id=new_id("snaprun"),
        org_id=caller.org_id,
        livemode=caller.livemode,
        run_date=today,
        trigger=trigger,
        cohort_count=len(rows),
        anomaly_count=0,
    )
    repository.add(session, run)
    findings: list[tuple[str, rules.Finding]] = []
    for row in rows:
        findings.extend(
            (row.id, f)
            for f in _record_cohort(
                session, warehouse, caller, run, row, previous.get(row.id), limits
            )
        )
    findings.extend(_lagging_vintages(session, warehouse, caller, rows, limits))
    stored = _store(session, caller, run, findings)
    run.anomaly_count = len(stored)
    session.flush()
    record_run_events(session, RunResult(run, stored), previous)  # events, same transaction
    return RunResult(run, stored)


def _record_cohort(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    run: SnapshotRun,
    row: CohortRow,
    previous: CohortRecording | None,
    limits: rules.Thresholds,
) -> list[rules.Finding]:
    members = cohorts.cohort_members_table(session, warehouse, caller, row.id)
    ids = member_ids(warehouse, members)
    scores = member_scores(warehouse, caller.scope, members)
    repository.add(
        session,
        CohortRecording(
            id=new_id("rec"),
            run_id=run.id,
            org_id=caller.org_id,
            livemode=caller.livemode,
            cohort_id=row.id,
            run_date=run.run_date,
            member_count=len(ids),
            avg_health_score=_text(scores.health),
            avg_risk_score=_text(scores.risk),
            members=pack_members(ids),
        ),
    )
    found: list[rules.Finding | None] = []
    if previous is not None and previous.avg_health_score is not None:
        found.append(
            rules.health_decline(
                Decimal(previous.avg_health_score),
                scores.health,
                period=run.run_date.isoformat(),
                thresholds=limits,
            )
        )
    current = period_of(run.run_date, Interval.month)
    query = SnapshotQuery(
        Interval.month, current - RULE_PERIODS, current - 1, run.run_date, caller.base_currency
    )
    series = period_snapshots(session, warehouse, caller, row, query, with_scores=False)
    latest = series[-1].period_start.isoformat()
    found.append(rules.low_nrr(series[-1].nrr, period=latest, thresholds=limits))
    found.append(
        rules.accelerating_churn([s.churn_count for s in series], period=latest, thresholds=limits)
    )
    return [f for f in found if f is not None]


def _lagging_vintages(
    session: Session,
    warehouse: Warehouse,
    caller: Caller,
    rows: list[CohortRow],
    limits: rules.Thresholds,
) -> list[tuple[str, rules.Finding]]:
    vintages = sorted(
        (r for r in rows if r.cohort_type == CohortType.vintage and r.grouping_value),
        key=lambda r: r.grouping_value or "",
    )
    if len(vintages) <= limits.vintage_peers:
        return []
    today = membership.utc_today()
    drawn = [
        curves.vintage_curve(
            warehouse,
            caller.scope,
            cohorts.cohort_members_table(session, warehouse, caller, r.id),
            today=today,
            base_currency=caller.base_currency,
            months=curves.MAX_MONTHS,
        )
        for r in vintages
    ]
    found: list[tuple[str, rules.Finding]] = []
    for index, (row, curve) in enumerate(zip(vintages, drawn, strict=True)):
        complete = [p.month for p in curve.points if p.pooled.complete]
        if not complete:
            continue
        age = max(complete)
        peers = [c.mrr_retention(age) for c in drawn[:index]]
        finding = rules.lagging_vintage(
            curve.mrr_retention(age),
            [p for p in peers if p is not None],
            vintage=row.name,
            age=age,
            thresholds=limits,
        )
        if finding is not None:
            found.append((row.id, finding))
    return found


def _store(
    session: Session, caller: Caller, run: SnapshotRun, findings: list[tuple[str, rules.Finding]]
) -> list[Anomaly]:
    seen = repository.anomaly_keys(session, org_id=caller.org_id, livemode=caller.livemode)
    stored: list[Anomaly] = []
    for cohort_id, finding in findings:
        key = (cohort_id, finding.type.value, finding.period)
        if key in seen:
            continue
        seen.add(key)
        row = Anomaly(
            id=new_id("anom"),
            org_id=caller.org_id,
            livemode=caller.livemode,
            cohort_id=cohort_id,
            run_id=run.id,
            type=finding.type.value,
            severity=finding.severity.value,
            period=finding.period,
            value=str(finding.value),
            threshold=str(finding.threshold),
            message=finding.message,
        )
        repository.add(session, row)
        stored.append(row)
    return stored


def anomaly_view(row: Anomaly) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "anomaly",
        "livemode": row.livemode,
        "cohort_id": row.cohort_id,
        "run_id": row.run_id,
        "type": row.type,
        "severity": row.severity,
        "period": row.period,
        "value": float(round_half_away(Decimal(row.value))),
        "threshold": float(round_half_away(Decimal(row.threshold))),
        "message": row.message,
        "created_at": row.created_at,
    }


def run_view(result: RunResult) -> dict[str, Any]:
    run = result.run
    return {
        "id": run.id,
        "object": "snapshot_run",
        "livemode": run.livemode,
        "run_date": run.run_date.isoformat(),
        "trigger": run.trigger,
        "cohort_count": run.cohort_count,
        "anomaly_count": run.anomaly_count,
        "anomalies": [anomaly_view(a) for a in result.anomalies],
        "created_at": run.created_at,
    }


# -- membership changes -----------------------------------------------------------------


def membership_changes(
    session: Session, caller: Caller, cohort_id: str, page: PageParams
) -> Page[dict[str, Any]]:
    """Who entered and who left between consecutive recorded runs, oldest run first.

    Item ids are ``mchg_<recording id>_<entered|exited>_<customer id>``: recording ids are
    time ordered, so sorting by id is run order, and the id is the cursor.
    """
    cohorts.get_cohort_row(session, caller, cohort_id)
    history = repository.recordings(
        session, org_id=caller.org_id, livemode=caller.livemode, cohort_id=cohort_id
    )
    changes: list[dict[str, Any]] = []
    for before, after in pairwise(history):
        old, new = set(unpack_members(before.members)), set(unpack_members(after.members))
        for change, ids in (("entered", new - old), ("exited", old - new)):
            changes.extend(
                {
                    "id": f"mchg_{after.id}_{change}_{customer_id}",
                    "object": "membership_change",
                    "livemode": caller.livemode,
                    "cohort_id": cohort_id,
                    "customer_id": customer_id,
                    "change": change,
                    "run_id": after.run_id,
                    "previous_run_id": before.run_id,
                    "run_date": after.run_date.isoformat(),
                }
                for customer_id in ids
            )
    changes.sort(key=lambda c: c["id"])
    return page_of(changes, page)


def page_of(items: list[dict[str, Any]], page: PageParams) -> Page[dict[str, Any]]:
    """Cursor paging over an id-sorted list, with ``cohortd.api.paging``'s semantics."""
    if page.starting_after:
        items = [i for i in items if i["id"] > page.starting_after]
    if page.ending_before:
        before = [i for i in items if i["id"] < page.ending_before]
        window = before[-page.limit :]
        has_more = len(before) > page.limit
        return Page(window, has_more, window[0]["id"] if has_more and window else None)
    window = items[: page.limit]
    has_more = len(items) > page.limit
    return Page(window, has_more, window[-1]["id"] if has_more and window else None)
