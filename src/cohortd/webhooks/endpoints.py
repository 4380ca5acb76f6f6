"""``/v1/destinations`` and ``/v1/replay`` (SPEC §7)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cohortd.api.deps import AuthDep, SessionDep, SettingsDep, WriteAuth
from cohortd.api.paging import ListResource, PageDep
from cohortd.webhooks import schemas, service
from cohortd.webhooks.ssrf import Resolver, system_resolver

router = APIRouter(tags=["Destinations"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such destination in this mode"},
}
_INVALID: dict[int | str, dict[str, str]] = {
    422: {"description": "Invalid body; errors name the field"}
}


def _resolver(request: Request) -> Resolver:
    """The address resolver (tests put their own on ``app.state``)."""
    return getattr(request.app.state, "webhook_resolver", None) or system_resolver


@router.post(
    "/v1/destinations",
    status_code=201,
    response_model=schemas.DestinationWithSecret,
    responses={**_ERRORS, **_INVALID},
)
def create_destination(
    body: schemas.DestinationCreate,
    principal: WriteAuth,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.DestinationWithSecret:
    row, secret = service.create_destination(
        session, principal, body, settings=settings, resolver=_resolver(request)
    )
    shown = service.destination_out(row).model_dump()
    return schemas.DestinationWithSecret(**shown, signing_secret=secret)


@router.get("/v1/destinations", response_model=ListResource[schemas.Destination], responses=_ERRORS)
def list_destinations(
    principal: AuthDep, session: SessionDep, page: PageDep
) -> ListResource[schemas.Destination]:
    found = service.list_destinations(session, principal, page)
    return ListResource(
        data=[service.destination_out(d) for d in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


@router.get(
    "/v1/destinations/{destination_id}",
    response_model=schemas.Destination,
    responses=_NOT_FOUND,
)
def get_destination(
    destination_id: str, principal: AuthDep, session: SessionDep
) -> schemas.Destination:
    return service.destination_out(service.get_destination(session, principal, destination_id))


@router.patch(
    "/v1/destinations/{destination_id}",
    response_model=schemas.Destination,
    responses={**_NOT_FOUND, **_INVALID},
)
def update_destination(
    destination_id: str,
    body: schemas.DestinationUpdate,
    principal: WriteAuth,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> schemas.Destination:
    row = service.update_destination(
        session, principal, destination_id, body, settings=settings, resolver=_resolver(request)
    )
    return service.destination_out(row)


@router.delete(
    "/v1/destinations/{destination_id}",
    response_model=schemas.DestinationDeleted,
    responses=_NOT_FOUND,
)
def delete_destination(
    destination_id: str, principal: WriteAuth, session: SessionDep
) -> schemas.DestinationDeleted:
    row = service.delete_destination(session, principal, destination_id)
    return schemas.DestinationDeleted(id=row.id, livemode=row.livemode)


@router.post(
    "/v1/destinations/{destination_id}/rotate_secret",
    response_model=schemas.DestinationWithSecret,
    responses={**_NOT_FOUND, **_INVALID},
)
def rotate_secret(
    destination_id: str,
    principal: WriteAuth,
    session: SessionDep,
    settings: SettingsDep,
    body: schemas.RotateSecret | None = None,
) -> schemas.DestinationWithSecret:
    grace = (body or schemas.RotateSecret()).grace_hours
    row, secret = service.rotate_secret(
        session, principal, destination_id, grace_hours=grace, settings=settings
    )
    shown = service.destination_out(row).model_dump()
    return schemas.DestinationWithSecret(**shown, signing_secret=secret)


@router.post(
    "/v1/destinations/{destination_id}/test",
    status_code=202,
    response_model=schemas.TestSent,
    responses=_NOT_FOUND,
)
def send_test(destination_id: str, principal: WriteAuth, session: SessionDep) -> schemas.TestSent:
    event_id, delivery_id = service.send_test(session, principal, destination_id)
    return schemas.TestSent(event_id=event_id, delivery_id=delivery_id)


@router.get(
    "/v1/destinations/{destination_id}/deliveries",
    response_model=ListResource[schemas.Delivery],
    responses=_NOT_FOUND,
)
def list_deliveries(
    destination_id: str, principal: AuthDep, session: SessionDep, page: PageDep
) -> ListResource[schemas.Delivery]:
    found = service.list_deliveries(session, principal, destination_id, page)
    return ListResource(
        data=[schemas.Delivery.model_validate(d) for d in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


@router.post(
    "/v1/replay",
    status_code=202,
    response_model=schemas.Replay,
    responses={**_ERRORS, **_INVALID},
)
def create_replay(
    body: schemas.ReplayCreate, principal: WriteAuth, session: SessionDep, settings: SettingsDep
) -> schemas.Replay:
    replay = service.create_replay(session, principal, body, settings=settings)
    return service.replay_out(session, replay)


@router.get(
    "/v1/replay/{replay_id}",
    response_model=schemas.Replay,
    responses={**_ERRORS, 404: {"description": "No such replay in this mode"}},
)
def get_replay(replay_id: str, principal: AuthDep, session: SessionDep) -> schemas.Replay:
    return service.get_replay(session, principal, replay_id)
