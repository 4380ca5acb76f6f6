"""Every control-plane statement about events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select
from sqlalchemy.orm import Session

from cohortd.events.models import Event
from cohortd.keys.models import Organization

_CHUNK = 500  # ids per IN list


def tenant(session: Session, org_id: str) -> dict[str, str]:
    """The envelope's ``tenant``: the organization's id and name."""
    org = session.get(Organization, org_id)
    return {"id": org_id, "name": org.name if org else ""}


def existing_ids(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are recorded already."""
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update(session.scalars(select(Event.id).where(Event.id.in_(chunk))))
    return found


def add_events(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Event), rows)


def get_event(session: Session, *, org_id: str, livemode: bool, event_id: str) -> Event | None:
    return session.scalars(
        select(Event).where(
            Event.id == event_id, Event.org_id == org_id, Event.livemode == livemode
        )
    ).first()


def events_query(
    *,
    org_id: str,
    livemode: bool,
    types: Iterable[str] | None = None,
    subscriber_id: str | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> Select[Any]:
    """The events of one organization and mode, filtered (for paging)."""
    stmt = select(Event).where(Event.org_id == org_id, Event.livemode == livemode)
    if types is not None:
        stmt = stmt.where(Event.type.in_(list(types)))
    if subscriber_id is not None:
        stmt = stmt.where(Event.subscriber_id == subscriber_id)
    if created_gte is not None:
        stmt = stmt.where(Event.created_at >= created_gte)
    if created_lt is not None:
        stmt = stmt.where(Event.created_at < created_lt)
    return stmt


def purge_before(session: Session, cutoff: datetime) -> int:
    """Delete events created before ``cutoff`` (their deliveries go with them)."""
    result = session.execute(delete(Event).where(Event.created_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
