"""``POST /v1/subscribers``, ``POST /v1/subscriptions`` and the admin overrides (SPEC §9)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cohortd.api.deps import WarehouseDep, WriteAuth
from cohortd.subscribers.schemas import Subscriber
from cohortd.subscriptions import service
from cohortd.subscriptions.rules import OverrideKind
from cohortd.subscriptions.schemas import (
    CancelBody,
    ChangePlanBody,
    CustomerRows,
    PauseBody,
    ResumeBody,
    SubscriberCreate,
    SubscriptionUpsert,
)
from cohortd.warehouse import Scope, Warehouse

router = APIRouter(tags=["Subscriptions"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not write"},
    422: {"description": "Invalid or impossible change; errors name the field"},
}
_OVERRIDE: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such subscription row in this mode"},
}


@router.post(
    "/v1/subscribers",
    status_code=201,
    response_model=Subscriber,
    responses={**_ERRORS, 409: {"description": "A subscriber with this id exists"}},
)
def create_subscriber(
    body: SubscriberCreate, principal: WriteAuth, warehouse: WarehouseDep
) -> Subscriber:
    return service.create_subscriber(warehouse, principal.scope, body)


@router.post("/v1/subscriptions", response_model=CustomerRows, responses=_ERRORS)
def upsert_subscription(
    body: SubscriptionUpsert, principal: WriteAuth, warehouse: WarehouseDep, request: Request
) -> CustomerRows:
    state = request.app.state
    return service.upsert_subscription(
        warehouse,
        principal.scope,
        body,
        backfill_days=state.settings.events_backfill_days,
        sessions=state.sessions,
    )


def _override(
    request: Request,
    warehouse: Warehouse,
    scope: Scope,
    subscription_id: str,
    kind: OverrideKind,
    body: CancelBody,
) -> CustomerRows:
    """The override, its events relayed to the event log after its commit."""
    state = request.app.state
    return service.override(
        warehouse,
        scope,
        subscription_id,
        kind,
        body,
        backfill_days=state.settings.events_backfill_days,
        sessions=state.sessions,
    )


@router.post(
    "/v1/subscriptions/{subscription_id}/cancel", response_model=CustomerRows, responses=_OVERRIDE
)
def cancel(
    subscription_id: str,
    principal: WriteAuth,
    warehouse: WarehouseDep,
    request: Request,
    body: CancelBody | None = None,
) -> CustomerRows:
    """The row ends on ``effective_date``."""
    kind, given = OverrideKind.cancel, body or CancelBody()
    return _override(request, warehouse, principal.scope, subscription_id, kind, given)


@router.post(
    "/v1/subscriptions/{subscription_id}/pause", response_model=CustomerRows, responses=_OVERRIDE
)
def pause(
    subscription_id: str,
    principal: WriteAuth,
    warehouse: WarehouseDep,
    request: Request,
    body: PauseBody | None = None,
) -> CustomerRows:
    """The row ends on ``effective_date``; a paused row (MRR 0) runs from it to
    ``resume_date`` (or on), then the old plan and MRR to the old row's end."""
    kind, given = OverrideKind.pause, body or PauseBody()
    return _override(request, warehouse, principal.scope, subscription_id, kind, given)


@router.post(
    "/v1/subscriptions/{subscription_id}/resume", response_model=CustomerRows, responses=_OVERRIDE
)
def resume(
    subscription_id: str,
    principal: WriteAuth,
    warehouse: WarehouseDep,
    request: Request,
    body: ResumeBody | None = None,
) -> CustomerRows:
    """The paused row ends on ``effective_date``; the plan and MRR of the row that ended
    where the pause began run from it on."""
    kind, given = OverrideKind.resume, body or ResumeBody()
    return _override(request, warehouse, principal.scope, subscription_id, kind, given)


@router.post(
    "/v1/subscriptions/{subscription_id}/change_plan",
    response_model=CustomerRows,
    responses=_OVERRIDE,
)
def change_plan(
    subscription_id: str,
    body: ChangePlanBody,
    principal: WriteAuth,
    warehouse: WarehouseDep,
    request: Request,
) -> CustomerRows:
    """The row ends on ``effective_date``; the new plan and MRR run from it to the old
    row's end."""
    return _override(
        request, warehouse, principal.scope, subscription_id, OverrideKind.change_plan, body
    )
