"""``/v1/events``: the event log (SPEC §7), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cohortd.api.deps import AuthDep, SessionDep
from cohortd.api.paging import ListResource, PageDep
from cohortd.events import service

router = APIRouter(prefix="/v1/events", tags=["Events"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}


@router.get(
    "",
    response_model=ListResource[dict[str, Any]],
    responses={**_ERRORS, 422: {"description": "Unknown event type"}},
)
def list_events(
    principal: AuthDep,
    session: SessionDep,
    page: PageDep,
    type: Annotated[
        list[str] | None,
        Query(description="Event types, repeatable; 'subscription.*' selects a family."),
    ] = None,
    subscriber_id: Annotated[str | None, Query(description="Events about this customer.")] = None,
    created_gte: Annotated[datetime | None, Query(description="Created at or after.")] = None,
    created_lt: Annotated[datetime | None, Query(description="Created before.")] = None,
) -> ListResource[dict[str, Any]]:
    found = service.list_events(
        session,
        org_id=principal.org_id,
        livemode=principal.livemode,
        page=page,
        types=type,
        subscriber_id=subscriber_id,
        created_gte=created_gte,
        created_lt=created_lt,
    )
    return ListResource(
        data=[service.as_json(e) for e in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


@router.get(
    "/{event_id}",
    response_model=dict[str, Any],
    responses={**_ERRORS, 404: {"description": "No such event in this mode"}},
)
def get_event(event_id: str, principal: AuthDep, session: SessionDep) -> dict[str, Any]:
    found = service.get_event(
        session, org_id=principal.org_id, livemode=principal.livemode, event_id=event_id
    )
    return service.as_json(found)
