"""The events of a snapshot run: ``snapshot_run.completed``, ``anomaly.detected`` per new
anomaly, and ``cohort.members_changed`` per cohort whose members differ from its
previous recording. Called where the run's results are written, in the same session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from cohortd.events import service as events

MAX_IDS = 1_000  # ids listed per direction; the counts are exact


def record_run_events(
    session: Session,
    *,
    org_id: str,
    livemode: bool,
    run: Mapping[str, Any],
    anomalies: Iterable[Mapping[str, Any]],
    member_sets: Iterable[tuple[str, frozenset[str] | None, list[str]]],
) -> None:
    """``run``: the run's view; ``anomalies``: the views of the anomalies it stored;
    ``member_sets``: per recorded cohort, its previous recording's members (None for a
    first recording, which makes no event) and its members now."""
    drafts = [events.EventDraft(type="snapshot_run.completed", data=_plain(run))]
    drafts += [events.EventDraft(type="anomaly.detected", data=_plain(a)) for a in anomalies]
    for cohort_id, before, now in member_sets:
        if before is None:
            continue
        current = set(now)
        entered, exited = sorted(current - before), sorted(before - current)
        if not entered and not exited:
            continue
        drafts.append(
            events.EventDraft(
                type="cohort.members_changed",
                data={
                    "cohort_id": cohort_id,
                    "entered": entered[:MAX_IDS],
                    "exited": exited[:MAX_IDS],
                    "entered_count": len(entered),
                    "exited_count": len(exited),
                    "member_count": len(current),
                    "run_id": run["id"],
                },
            )
        )
    events.record_many(session, org_id=org_id, livemode=livemode, drafts=drafts)


def _plain(view: Mapping[str, Any]) -> dict[str, Any]:
    """A view with its times as ISO strings (the envelope is JSON)."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in view.items()}
