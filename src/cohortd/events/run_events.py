"""The events of a snapshot run: ``snapshot_run.completed``, ``anomaly.detected`` per new
anomaly, and ``cohort.members_changed`` per cohort whose members differ from its
previous recording. Called where the run's results are written, in the same session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cohortd.events import service as events

if TYPE_CHECKING:
    from cohortd.intelligence.models import CohortRecording
    from cohortd.intelligence.runs import RunResult

MAX_IDS = 1_000  # ids listed per direction; the counts are exact


def record_run_events(
    session: Session, result: RunResult, previous: dict[str, CohortRecording]
) -> None:
    from cohortd.intelligence.models import CohortRecording
    from cohortd.intelligence.runs import anomaly_view, run_view, unpack_members

    run = result.run
    drafts = [events.EventDraft(type="snapshot_run.completed", data=_plain(run_view(result)))]
    drafts += [
        events.EventDraft(type="anomaly.detected", data=_plain(anomaly_view(a)))
        for a in result.anomalies
    ]
    recorded = session.scalars(select(CohortRecording).where(CohortRecording.run_id == run.id))
    for recording in recorded:
        before = previous.get(recording.cohort_id)
        if before is None:
            continue
        old, new = set(unpack_members(before.members)), set(unpack_members(recording.members))
        entered, exited = sorted(new - old), sorted(old - new)
        if not entered and not exited:
            continue
        drafts.append(
            events.EventDraft(
                type="cohort.members_changed",
                data={
                    "cohort_id": recording.cohort_id,
                    "entered": entered[:MAX_IDS],
                    "exited": exited[:MAX_IDS],
                    "entered_count": len(entered),
                    "exited_count": len(exited),
                    "member_count": recording.member_count,
                    "run_id": run.id,
                },
            )
        )
    events.record_many(session, org_id=run.org_id, livemode=run.livemode, drafts=drafts)


def _plain(view: dict[str, Any]) -> dict[str, Any]:
    """A view with its times as ISO strings (the envelope is JSON)."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in view.items()}
