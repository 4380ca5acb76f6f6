"""Every control-plane statement about destinations, deliveries and replays.

Claiming is one statement shape on both backends: candidates are selected (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, which SQLAlchemy leaves out on SQLite, where writers are
serialised anyway), then stamped with a claim token by an UPDATE whose WHERE re-checks
that the lease is free; the rows carrying the token are the ones this worker won.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from cohortd.events.models import Event
from cohortd.webhooks.models import Delivery, DeliveryStatus, Destination, Replay


# -- destinations -------------------------------------------------------------------------
def add_destination(session: Session, destination: Destination) -> None:
    session.add(destination)
    session.flush()


def get_destination(
    session: Session, *, org_id: str, livemode: bool, destination_id: str
) -> Destination | None:
    return session.scalars(
        select(Destination).where(
            Destination.id == destination_id,
            Destination.org_id == org_id,
            Destination.livemode == livemode,
        )
    ).first()


def destinations_query(*, org_id: str, livemode: bool) -> Select[Any]:
    return select(Destination).where(Destination.org_id == org_id, Destination.livemode == livemode)


def enabled_destinations(session: Session, *, org_id: str, livemode: bool) -> list[Destination]:
    """The destinations of one organization and mode that receive events."""
    return list(
        session.scalars(
            select(Destination).where(
                Destination.org_id == org_id,
                Destination.livemode == livemode,
                Destination.disabled.is_(False),
            )
        )
    )


def delete_destination(session: Session, destination: Destination) -> None:
    session.delete(destination)
    session.flush()


# -- deliveries ---------------------------------------------------------------------------
def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Delivery), rows)


def deliveries_query(*, org_id: str, livemode: bool, destination_id: str) -> Select[Any]:
    return select(Delivery).where(
        Delivery.org_id == org_id,
        Delivery.livemode == livemode,
        Delivery.destination_id == destination_id,
    )


def cancel_pending(session: Session, destination_id: str, *, reason: str) -> None:
    session.execute(
        update(Delivery)
        .where(
            Delivery.destination_id == destination_id,
            Delivery.status == DeliveryStatus.pending.value,
        )
        .values(status=DeliveryStatus.cancelled.value, error=reason, next_attempt_at=None)
    )


def claim_due(
    session: Session, *, now: datetime, lease_until: datetime, token: str, limit: int
) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries of enabled destinations, oldest first.

    One UPDATE whose subquery picks the rows: on PostgreSQL the subquery locks them
    ``FOR UPDATE SKIP LOCKED`` (concurrent claimers take different rows); on SQLite the
    statement takes the write lock first (waiting for it), so claimers queue."""
    free = or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)
    candidates = (
        select(Delivery.id)
        .join(Destination, Destination.id == Delivery.destination_id)
        .where(
            Delivery.status == DeliveryStatus.pending.value,
            Delivery.next_attempt_at <= now,
            Destination.disabled.is_(False),
            free,
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(of=Delivery, skip_locked=True)
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates.scalar_subquery()), free)
        .values(claim_token=token, claimed_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return []
    return list(session.scalars(select(Delivery).where(Delivery.claim_token == token)))


def claimed(session: Session, delivery_id: str, token: str) -> Delivery | None:
    """The delivery, if this worker's claim still holds it."""
    return session.scalars(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.claim_token == token)
    ).first()


def event_envelopes(session: Session, event_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """id -> (type, envelope) of these events."""
    rows = session.execute(
        select(Event.id, Event.type, Event.envelope).where(Event.id.in_(list(event_ids)))
    )
    return {row.id: (row.type, row.envelope) for row in rows}


def destinations_by_id(session: Session, ids: Sequence[str]) -> dict[str, Destination]:
    return {d.id: d for d in session.scalars(select(Destination).where(Destination.id.in_(ids)))}


def replay_candidates(
    session: Session,
    *,
    org_id: str,
    livemode: bool,
    destination_id: str,
    types: list[str] | None,
    from_at: datetime,
    to_at: datetime,
    skip_delivered: bool,
) -> list[str]:
    """The ids of the window's events, oldest first; with ``skip_delivered`` only those
    never delivered successfully to the destination."""
    stmt = select(Event.id).where(
        Event.org_id == org_id,
        Event.livemode == livemode,
        Event.created_at >= from_at,
        Event.created_at < to_at,
    )
    if types is not None:
        stmt = stmt.where(Event.type.in_(types))
    if skip_delivered:
        delivered = exists().where(
            and_(
                Delivery.event_id == Event.id,
                Delivery.destination_id == destination_id,
                Delivery.status == DeliveryStatus.succeeded.value,
            )
        )
        stmt = stmt.where(~delivered)
    return list(session.scalars(stmt.order_by(Event.id)))


def add_replay(session: Session, replay: Replay) -> None:
    session.add(replay)
    session.flush()


def get_replay(session: Session, *, org_id: str, livemode: bool, replay_id: str) -> Replay | None:
    return session.scalars(
        select(Replay).where(
            Replay.id == replay_id, Replay.org_id == org_id, Replay.livemode == livemode
        )
    ).first()


def replay_progress(session: Session, replay_id: str) -> dict[str, int]:
    """status -> count of the replay's deliveries, each at its latest attempt (a failed
    attempt with a retry due is followed by that retry's row)."""
    rows = session.execute(
        select(Delivery.status, Delivery.id).where(
            Delivery.replay_id == replay_id,
            or_(
                Delivery.status != DeliveryStatus.failed.value,
                Delivery.next_attempt_at.is_(None),
            ),
        )
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
