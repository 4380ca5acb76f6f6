"""Destination rules: create (secret shown once), update, delete, rotate, test; the
deliveries list; replay. Services never commit: the request's session does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from cohortd.api.paging import Page, PageParams, paginate_select, paginate_select_newest_first
from cohortd.cohorts.service import Tenant
from cohortd.config import Settings
from cohortd.db import utcnow
from cohortd.errors import FieldError, NotFound, ValidationFailed
from cohortd.events import envelope
from cohortd.events import service as events
from cohortd.ids import new_id
from cohortd.webhooks import repository, schemas
from cohortd.webhooks.models import Delivery, DeliveryStatus, Destination, Replay
from cohortd.webhooks.secrets import new_signing_secret, secret_box
from cohortd.webhooks.ssrf import Resolver, UnsafeUrl, check_url, parse_networks, system_resolver


def check_destination_url(
    url: str, *, livemode: bool, settings: Settings, resolver: Resolver = system_resolver
) -> None:
    """422 naming ``url`` and the reason when the URL may not receive webhooks."""
    try:
        check_url(
            url,
            livemode=livemode,
            allow=parse_networks(settings.webhook_allow_networks),
            resolver=resolver,
        )
    except UnsafeUrl as error:
        raise ValidationFailed(
            "The destination URL is not allowed.",
            errors=[FieldError(("body", "url"), str(error))],
        ) from None


def get_destination(session: Session, tenant: Tenant, destination_id: str) -> Destination:
    found = repository.get_destination(
        session, org_id=tenant.org_id, livemode=tenant.livemode, destination_id=destination_id
    )
    if found is None:
        raise NotFound(f"No destination '{destination_id}' in this mode.")
    return found


def create_destination(
    session: Session,
    tenant: Tenant,
    body: schemas.DestinationCreate,
    *,
    settings: Settings,
    resolver: Resolver = system_resolver,
) -> tuple[Destination, str]:
    """A new destination and its signing secret (returned this once, stored encrypted)."""
    check_destination_url(body.url, livemode=tenant.livemode, settings=settings, resolver=resolver)
    secret = new_signing_secret()
    now = utcnow()
    row = Destination(
        id=new_id("dest"),
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        url=body.url,
        event_types=body.event_types,
        pii_mode=body.pii_mode.value,
        description=body.description,
        schema_version=body.schema_version,
        disabled=False,
        disabled_reason=None,
        secret=secret_box(settings).seal(secret),
        created_at=now,
        updated_at=now,
    )
    repository.add_destination(session, row)
    return row, secret


def update_destination(
    session: Session,
    tenant: Tenant,
    destination_id: str,
    body: schemas.DestinationUpdate,
    *,
    settings: Settings,
    resolver: Resolver = system_resolver,
) -> Destination:
    row = get_destination(session, tenant, destination_id)
    given = body.model_dump(exclude_unset=True)
    if given.get("url") is not None:
        check_destination_url(
            given["url"], livemode=tenant.livemode, settings=settings, resolver=resolver
        )
        row.url = given["url"]
    if "event_types" in given:
        row.event_types = given["event_types"]
    if given.get("pii_mode") is not None:
        row.pii_mode = given["pii_mode"].value
    if "description" in given:
        row.description = given["description"]
    if given.get("schema_version") is not None:
        row.schema_version = given["schema_version"]
    if given.get("disabled") is False:
        row.disabled, row.disabled_reason, row.failing_since = False, None, None
    row.updated_at = utcnow()
    session.flush()
    return row


def delete_destination(session: Session, tenant: Tenant, destination_id: str) -> Destination:
    row = get_destination(session, tenant, destination_id)
    repository.delete_destination(session, row)
    return row


def rotate_secret(
    session: Session, tenant: Tenant, destination_id: str, *, grace_hours: int, settings: Settings
) -> tuple[Destination, str]:
    """A new secret (returned once); the old one keeps signing for ``grace_hours``."""
    row = get_destination(session, tenant, destination_id)
    box = secret_box(settings)
    secret = new_signing_secret()
    if grace_hours > 0:
        row.previous_secret = row.secret
        row.previous_secret_expires_at = utcnow() + timedelta(hours=grace_hours)
    else:
        row.previous_secret, row.previous_secret_expires_at = None, None
    row.secret = box.seal(secret)
    row.updated_at = utcnow()
    session.flush()
    return row, secret


def signing_secrets(row: Destination, settings: Settings, now: datetime) -> list[str]:
    """The secrets that sign an attempt now: the current one, and the previous one while
    its grace lasts."""
    box = secret_box(settings)
    found = [box.open(row.secret)]
    if (
        row.previous_secret
        and row.previous_secret_expires_at
        and row.previous_secret_expires_at > now
    ):
        found.append(box.open(row.previous_secret))
    return found


def send_test(session: Session, tenant: Tenant, destination_id: str) -> tuple[str, str]:
    """Record a ``destination.test`` event and queue it for this destination only."""
    row = get_destination(session, tenant, destination_id)
    event_id = events.record(
        session,
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        draft=events.EventDraft(
            type="destination.test",
            data={"destination_id": row.id, "message": "A test event from cohortd."},
        ),
    )
    delivery = events.delivery_row(event_id, row.id, tenant.org_id, tenant.livemode, utcnow())
    repository.add_deliveries(session, [delivery])
    return event_id, str(delivery["id"])


def list_destinations(session: Session, tenant: Tenant, page: PageParams) -> Page[Destination]:
    stmt = repository.destinations_query(org_id=tenant.org_id, livemode=tenant.livemode)
    return paginate_select(session, stmt, Destination.id, page)


def list_deliveries(
    session: Session, tenant: Tenant, destination_id: str, page: PageParams
) -> Page[Delivery]:
    """The destination's delivery attempts (one row per attempt), newest first."""
    get_destination(session, tenant, destination_id)
    stmt = repository.deliveries_query(
        org_id=tenant.org_id, livemode=tenant.livemode, destination_id=destination_id
    )
    return paginate_select_newest_first(session, stmt, Delivery.id, page)


def destination_out(row: Destination) -> schemas.Destination:
    out = schemas.Destination.model_validate(row)
    if row.previous_secret_expires_at and row.previous_secret_expires_at > utcnow():
        out.secret_rotation_ends_at = row.previous_secret_expires_at
    return out


# -- replay -------------------------------------------------------------------------------
def create_replay(
    session: Session, tenant: Tenant, body: schemas.ReplayCreate, *, settings: Settings
) -> Replay:
    """Queue the window's events for the destination again (same ids, same bodies)."""
    start, end = _utc(body.from_), _utc(body.to)
    now = utcnow()
    errors: list[FieldError] = []
    if end <= start:
        errors.append(FieldError(("body", "to"), "'to' must be after 'from'"))
    if start < now - timedelta(days=settings.events_retention_days):
        errors.append(
            FieldError(
                ("body", "from"),
                f"older than the event retention ({settings.events_retention_days} days)",
            )
        )
    if errors:
        raise ValidationFailed("The replay window is invalid.", errors=errors)
    destination = repository.get_destination(
        session, org_id=tenant.org_id, livemode=tenant.livemode, destination_id=body.destination_id
    )
    if destination is None:
        raise ValidationFailed(
            "Unknown destination.",
            errors=[FieldError(("body", "destination_id"), "no such destination in this mode")],
        )
    types = None if body.event_types is None else _exact(body.event_types)
    ids = repository.replay_candidates(
        session,
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        destination_id=destination.id,
        types=types,
        from_at=start,
        to_at=end,
        skip_delivered=body.dedupe_strategy is schemas.DedupeStrategy.skip_existing,
    )
    replay = Replay(
        id=new_id("replay"),
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        destination_id=destination.id,
        event_types=body.event_types,
        from_at=start,
        to_at=end,
        dedupe_strategy=body.dedupe_strategy.value,
        status="running" if ids else "completed",
        event_count=len(ids),
        queued_count=len(ids),
        created_at=now,
        completed_at=None if ids else now,
    )
    repository.add_replay(session, replay)
    repository.add_deliveries(
        session,
        [
            events.delivery_row(
                i, destination.id, tenant.org_id, tenant.livemode, now, replay_id=replay.id
            )
            for i in ids
        ],
    )
    return replay


def get_replay(session: Session, tenant: Tenant, replay_id: str) -> schemas.Replay:
    replay = repository.get_replay(
        session, org_id=tenant.org_id, livemode=tenant.livemode, replay_id=replay_id
    )
    if replay is None:
        raise NotFound(f"No replay '{replay_id}' in this mode.")
    return replay_out(session, replay)


def replay_out(session: Session, replay: Replay) -> schemas.Replay:
    counts = repository.replay_progress(session, replay.id)
    pending = counts.get(DeliveryStatus.pending.value, 0)
    if replay.status == "running" and pending == 0:
        replay.status, replay.completed_at = "completed", utcnow()
    return schemas.Replay(
        id=replay.id,
        livemode=replay.livemode,
        destination_id=replay.destination_id,
        event_types=replay.event_types,
        from_=replay.from_at,
        to=replay.to_at,
        dedupe_strategy=schemas.DedupeStrategy(replay.dedupe_strategy),
        status=replay.status,
        event_count=replay.event_count,
        delivered_count=counts.get(DeliveryStatus.succeeded.value, 0),
        failed_count=counts.get(DeliveryStatus.failed.value, 0)
        + counts.get(DeliveryStatus.cancelled.value, 0),
        pending_count=pending,
        created_at=replay.created_at,
        completed_at=replay.completed_at,
    )


def _exact(patterns: list[str]) -> list[str]:
    return envelope.expand(patterns)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
