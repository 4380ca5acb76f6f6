"""Recording events (with their outbox rows), listing them, and the retention purge.

``record`` and ``record_many`` write the event and one delivery row per matching,
enabled destination of the same organization and mode, in the caller's session: the
change, its event and its deliveries commit together or not at all. Services never
commit; the caller's unit of work does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cohortd.api.paging import Page, PageParams, paginate_select_newest_first
from cohortd.db import utcnow
from cohortd.errors import FieldError, NotFound, ValidationFailed
from cohortd.events import envelope, repository
from cohortd.events.models import Event
from cohortd.ids import new_id
from cohortd.webhooks import repository as webhooks
from cohortd.webhooks.models import DeliveryStatus


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to record: its type and the envelope parts that are not the tenant's."""

    type: str
    data: dict[str, Any]
    subscriber: dict[str, Any] | None = None
    subscription: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utcnow)
    # what makes the event unique (a deterministic id); empty: a random id
    identity: tuple[str, ...] = ()
    event_id: str | None = None

    @property
    def id(self) -> str:
        return self.event_id or envelope.event_id_at(self.created_at, *self.identity)


def record(session: Session, *, org_id: str, livemode: bool, draft: EventDraft) -> str:
    """Record one event and its deliveries; returns the event id."""
    return record_many(session, org_id=org_id, livemode=livemode, drafts=[draft])[0]


def record_many(
    session: Session, *, org_id: str, livemode: bool, drafts: list[EventDraft]
) -> list[str]:
    """Record events not recorded yet (by id) and their deliveries; returns every id."""
    ids = [d.id for d in drafts]
    fixed = any(d.identity or d.event_id for d in drafts)
    known = repository.existing_ids(session, ids) if fixed else set()
    tenant = repository.tenant(session, org_id)
    destinations = webhooks.enabled_destinations(session, org_id=org_id, livemode=livemode)
    events: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    now = utcnow()
    for event_id, draft in zip(ids, drafts, strict=True):
        if event_id in known:
            continue
        known.add(event_id)
        document = envelope.envelope(
            event_id=event_id,
            event_type=draft.type,
            created_at=draft.created_at,
            livemode=livemode,
            tenant=tenant,
            subscriber=draft.subscriber,
            subscription=draft.subscription,
            data=draft.data,
        )
        events.append(
            {
                "id": event_id,
                "org_id": org_id,
                "livemode": livemode,
                "type": draft.type,
                "subscriber_id": (draft.subscriber or {}).get("id"),
                "created_at": draft.created_at,
                "envelope": envelope.dumps(document),
            }
        )
        for destination in destinations:
            if draft.type == "destination.test" or not envelope.matches(
                destination.event_types, draft.type
            ):
                continue
            deliveries.append(delivery_row(event_id, destination.id, org_id, livemode, now))
    repository.add_events(session, events)
    session.flush()
    webhooks.add_deliveries(session, deliveries)
    return ids


def delivery_row(
    event_id: str,
    destination_id: str,
    org_id: str,
    livemode: bool,
    now: datetime,
    *,
    replay_id: str | None = None,
) -> dict[str, Any]:
    """The first attempt of a delivery, pending and due now."""
    return {
        "id": new_id("dlv"),
        "org_id": org_id,
        "livemode": livemode,
        "event_id": event_id,
        "destination_id": destination_id,
        "replay_id": replay_id,
        "status": DeliveryStatus.pending.value,
        "attempt": 1,
        "next_attempt_at": now,
        "created_at": now,
    }


def get_event(session: Session, *, org_id: str, livemode: bool, event_id: str) -> Event:
    found = repository.get_event(session, org_id=org_id, livemode=livemode, event_id=event_id)
    if found is None:
        raise NotFound(f"No event '{event_id}' in this mode.")
    return found


def list_events(
    session: Session,
    *,
    org_id: str,
    livemode: bool,
    page: PageParams,
    types: list[str] | None = None,
    subscriber_id: str | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> Page[Event]:
    """Events newest first; ``types`` may hold ``family.*`` patterns (unknown -> 422)."""
    exact = None
    if types:
        unknown = [t for t in types if not envelope.known_pattern(t)]
        if unknown:
            raise ValidationFailed(
                "Unknown event type.",
                errors=[FieldError(("query", "type"), f"unknown event type '{unknown[0]}'")],
            )
        exact = envelope.expand(types)
    stmt = repository.events_query(
        org_id=org_id,
        livemode=livemode,
        types=exact,
        subscriber_id=subscriber_id,
        created_gte=_utc(created_gte),
        created_lt=_utc(created_lt),
    )
    return paginate_select_newest_first(session, stmt, Event.id, page)


def _utc(moment: datetime | None) -> datetime | None:
    """A time without zone is read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def as_json(event: Event) -> dict[str, Any]:
    """The stored envelope (the API shows it as is)."""
    document: dict[str, Any] = json.loads(event.envelope)
    return document


def purge(session: Session, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete events older than the retention; returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    return repository.purge_before(session, cutoff)
