"""The snapshot run computed one cohort at a time: the reference for ``runs.compute``.

This is how a run recorded cohorts before they were computed together: per cohort its
members as of today (``cohort_members_table``), their ids and scores, the snapshots of
the last three complete months (``period_snapshots``; the last one kept with the
recording), then the vintage curves one by one. Findings come in the same order as a
run's.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from cohortd.cohorts import service as cohorts
from cohortd.cohorts.schemas import CohortType
from cohortd.engine import anomalies as rules
from cohortd.engine import curves
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import SnapshotQuery, member_ids, member_scores
from cohortd.intelligence.runs import RULE_PERIODS, Inputs, Outcome, Recorded
from cohortd.intelligence.service import Caller, period_snapshots
from cohortd.warehouse import Warehouse


def reference_outcome(
    session: Session, warehouse: Warehouse, caller: Caller, inputs: Inputs, today: date
) -> Outcome:
    limits = inputs.thresholds
    recordings: list[Recorded] = []
    findings: list[tuple[str, rules.Finding]] = []
    for row in inputs.cohorts:
        members = cohorts.cohort_members_table(session, warehouse, caller, row.id, today)
        scores = member_scores(warehouse, caller.scope, members)
        found: list[rules.Finding | None] = []
        previous = inputs.previous.get(row.id)
        if previous is not None and previous.health is not None:
            found.append(
                rules.health_decline(
                    previous.health, scores.health, period=today.isoformat(), thresholds=limits
                )
            )
        current = period_of(today, Interval.month)
        query = SnapshotQuery(
            Interval.month, current - RULE_PERIODS, current - 1, today, caller.base_currency
        )
        series = period_snapshots(session, warehouse, caller, row, query, with_scores=False)
        recordings.append(Recorded(row.id, member_ids(warehouse, members), scores, series[-1]))
        latest = series[-1].period_start.isoformat()
        found.append(rules.low_nrr(series[-1].nrr, period=latest, thresholds=limits))
        found.append(
            rules.accelerating_churn(
                [s.churn_count for s in series], period=latest, thresholds=limits
            )
        )
        findings.extend((row.id, f) for f in found if f is not None)
    vintages = sorted(
        (r for r in inputs.cohorts if r.cohort_type == CohortType.vintage and r.grouping_value),
        key=lambda r: r.grouping_value or "",
    )
    if len(vintages) > limits.vintage_peers:
        drawn = [
            curves.vintage_curve(
                warehouse,
                caller.scope,
                cohorts.cohort_members_table(session, warehouse, caller, r.id, today),
                today=today,
                base_currency=caller.base_currency,
                months=curves.MAX_MONTHS,
            )
            for r in vintages
        ]
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
                findings.append((row.id, finding))
    return Outcome(recordings, findings, caller.base_currency)
