"""What a snapshot run computes (SPEC §4) and how it is stored.

A run records, per cohort, the member count, today's average health and risk scores and
the member set (kept compactly: ``intelligence.member_sets``), then the rules of
``engine.anomalies`` run on:

- the last three complete months (NRR of the latest: ``low_nrr``; churn counts of the
  three: ``accelerating_churn``);
- the previous recording's average health (``health_decline``);
- vintage cohorts, oldest quarter first: each at the latest month k its curve has
  complete, against the four previous vintages at k (``lagging_vintage``).

``compute`` reads the warehouse only, for all cohorts together (``engine.batched``: one
membership relation, one snapshot computation over it); ``store`` writes its outcome in
the caller's (short) transaction. ``intelligence.jobs`` runs the two as a job.

An anomaly is stored once per (cohort, type, period): a later run that sees it again
does not repeat it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from sqlalchemy.orm import Session

from cohortd.api.paging import Page, PageParams
from cohortd.cohorts import service as cohorts
from cohortd.cohorts.models import Cohort as CohortRow
from cohortd.cohorts.schemas import CohortType
from cohortd.engine import anomalies as rules
from cohortd.engine import batched, curves
from cohortd.engine.money import round_half_away
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import PeriodSnapshot, Scores, SnapshotQuery
from cohortd.ids import new_id
from cohortd.intelligence import member_sets, repository
from cohortd.intelligence.kept import stored_snapshot
from cohortd.intelligence.models import Anomaly, CohortRecording, SnapshotRun
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Warehouse

RULE_PERIODS: Final = 3  # accelerating churn looks at three consecutive complete months
STEPS: Final = ("membership", "snapshots", "curves", "storing")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Previous:
    """What a run needs of a cohort's earlier recordings: the last one's set and health,
    and how many recordings followed the last whole set."""

    members: frozenset[str]
    health: Decimal | None
    since_full: int


@dataclass(frozen=True)
class Inputs:
    """Everything a run reads from the control plane, read before it computes."""

    cohorts: Sequence[CohortRow]
    previous: Mapping[str, Previous]
    thresholds: rules.Thresholds


@dataclass(frozen=True)
class Recorded:
    """One cohort's recording, computed; ``latest``: its last complete month."""

    cohort_id: str
    member_ids: list[str]
    scores: Scores
    latest: PeriodSnapshot


@dataclass(frozen=True)
class Outcome:
    """A run's results, before storing: recordings and findings (in detection order)."""

    recordings: list[Recorded]
    findings: list[tuple[str, rules.Finding]]
    currency: str  # the currency of the recordings' snapshots


def read_inputs(session: Session, caller: Caller) -> Inputs:
    """The cohorts, thresholds and the previous recordings' sets (read-only)."""
    from cohortd.intelligence import settings as thresholds_store

    rows = repository.cohorts(session, org_id=caller.org_id, livemode=caller.livemode)
    chains = repository.recording_chains(
        session, org_id=caller.org_id, livemode=caller.livemode, cohort_ids=[r.id for r in rows]
    )
    previous: dict[str, Previous] = {}
    for cohort_id, chain in chains.items():
        *_, last = member_sets.replay(chain)
        health = chain[-1].avg_health_score
        previous[cohort_id] = Previous(
            last.members,
            None if health is None else Decimal(health),
            member_sets.since_full(chain),
        )
    return Inputs(rows, previous, thresholds_store.thresholds(session, caller))


def compute(
    warehouse: Warehouse,
    caller: Caller,
    inputs: Inputs,
    *,
    today: date,
    step: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Record every cohort of ``inputs`` as of ``today`` and detect anomalies; reads the
    warehouse only. ``step`` is told each step's name as it starts (``STEPS``)."""
    rows, limits = inputs.cohorts, inputs.thresholds
    definitions = [(r.id, cohorts.engine_definition(r)) for r in rows]
    current = period_of(today, Interval.month)
    query = SnapshotQuery(
        Interval.month, current - RULE_PERIODS, current - 1, today, caller.base_currency
    )
    step(STEPS[0])
    with batched.member_relation(
        warehouse, caller.scope, definitions, as_of=today, today=today
    ) as relation:
        ids = batched.ids_by_cohort(warehouse, relation)
        scores = batched.scores_by_cohort(warehouse, caller.scope, relation)
        step(STEPS[1])
        series = batched.snapshots_by_cohort(
            warehouse, caller.scope, relation, [r.id for r in rows], query
        )
        step(STEPS[2])
        lagging = _lagging_vintages(warehouse, caller, relation, rows, limits, today)
    recordings: list[Recorded] = []
    findings: list[tuple[str, rules.Finding]] = []
    for row in rows:
        recorded = Recorded(
            row.id, ids.get(row.id, []), scores.get(row.id, Scores()), series[row.id][-1]
        )
        recordings.append(recorded)
        found = _cohort_findings(
            recorded, inputs.previous.get(row.id), series[row.id], limits, today
        )
        findings.extend((row.id, f) for f in found)
    findings.extend(lagging)
    step(STEPS[3])
    return Outcome(recordings, findings, query.base_currency)


def _cohort_findings(
    recorded: Recorded,
    previous: Previous | None,
    series: list[PeriodSnapshot],
    limits: rules.Thresholds,
    today: date,
) -> list[rules.Finding]:
    found: list[rules.Finding | None] = []
    if previous is not None and previous.health is not None:
        found.append(
            rules.health_decline(
                previous.health, recorded.scores.health, period=today.isoformat(),
                thresholds=limits,
            )
        )  # fmt: skip
    latest = series[-1].period_start.isoformat()
    found.append(rules.low_nrr(series[-1].nrr, period=latest, thresholds=limits))
    found.append(
        rules.accelerating_churn([s.churn_count for s in series], period=latest, thresholds=limits)
    )
    return [f for f in found if f is not None]


def _lagging_vintages(
    warehouse: Warehouse,
    caller: Caller,
    relation: Any,
    rows: Sequence[CohortRow],
    limits: rules.Thresholds,
    today: date,
) -> list[tuple[str, rules.Finding]]:
    vintages = sorted(
        (r for r in rows if r.cohort_type == CohortType.vintage and r.grouping_value),
        key=lambda r: r.grouping_value or "",
    )
    if len(vintages) <= limits.vintage_peers:
        return []
    drawn = curves.vintage_curves(
        warehouse,
        caller.scope,
        relation,
        [r.id for r in vintages],
        today=today,
        base_currency=caller.base_currency,
        months=curves.MAX_MONTHS,
    )
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


def store(session: Session, run: SnapshotRun, inputs: Inputs, outcome: Outcome) -> list[Anomaly]:
    """Write the recordings and the new anomalies of ``run`` (the caller's transaction).

    A cohort deleted while the run computed is left out."""
    scope: dict[str, Any] = {"org_id": run.org_id, "livemode": run.livemode}
    alive = repository.cohort_ids(session, org_id=run.org_id, livemode=run.livemode)
    for recorded in outcome.recordings:
        if recorded.cohort_id not in alive:
            continue
        before = inputs.previous.get(recorded.cohort_id)
        blobs = member_sets.encode(
            None if before is None else set(before.members),
            0 if before is None else before.since_full,
            recorded.member_ids,
        )
        session.add(
            CohortRecording(
                id=new_id("rec"),
                run_id=run.id,
                cohort_id=recorded.cohort_id,
                run_date=run.run_date,
                member_count=len(recorded.member_ids),
                avg_health_score=_text(recorded.scores.health),
                avg_risk_score=_text(recorded.scores.risk),
                members=blobs.members,
                entered=blobs.entered,
                exited=blobs.exited,
                period_snapshot=stored_snapshot(recorded.latest, outcome.currency),
                **scope,
            )
        )
    seen = repository.anomaly_keys(session, org_id=run.org_id, livemode=run.livemode)
    stored: list[Anomaly] = []
    for cohort_id, finding in outcome.findings:
        key = (cohort_id, finding.type.value, finding.period)
        if key in seen or cohort_id not in alive:
            continue
        seen.add(key)
        row = Anomaly(
            id=new_id("anom"),
            cohort_id=cohort_id,
            run_id=run.id,
            type=finding.type.value,
            severity=finding.severity.value,
            period=finding.period,
            value=str(finding.value),
            threshold=str(finding.threshold),
            message=finding.message,
            **scope,
        )
        session.add(row)
        stored.append(row)
    session.flush()
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
    before: CohortRecording | None = None
    for after, step in zip(history, member_sets.replay(history), strict=True):
        previous, before = before, after
        if previous is None or step.entered is None or step.exited is None:
            continue
        for change, ids in (("entered", step.entered), ("exited", step.exited)):
            changes.extend(
                {
                    "id": f"mchg_{after.id}_{change}_{customer_id}",
                    "object": "membership_change",
                    "livemode": caller.livemode,
                    "cohort_id": cohort_id,
                    "customer_id": customer_id,
                    "change": change,
                    "run_id": after.run_id,
                    "previous_run_id": previous.run_id,
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
