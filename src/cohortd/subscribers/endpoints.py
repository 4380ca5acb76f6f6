"""``/v1/subscribers`` and ``/v1/subscriptions``: customers and their MRR history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cohortd.api.deps import AuthDep, SettingsDep, WarehouseDep, WriteAuth
from cohortd.api.paging import ListResource, PageDep
from cohortd.api.reads import analytic
from cohortd.subscribers import service
from cohortd.subscribers.schemas import Subscriber, SubscriberUpdate, Subscription

router = APIRouter(tags=["Subscribers"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such id in this mode"},
}


@router.get(
    "/v1/subscribers",
    response_model=ListResource[Subscriber],
    responses={**_ERRORS, 400: {"description": "Unknown status"}},
)
def list_subscribers(
    principal: AuthDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    page: PageDep,
    status: Annotated[str | None, Query(description="Status today (given, else derived).")] = None,
    plan_id: Annotated[str | None, Query(description="Plan today (given, else derived).")] = None,
    tag: Annotated[str | None, Query(description="Subscribers holding this tag.")] = None,
    country: Annotated[str | None, Query(description="ISO 3166-1 alpha-2 country.")] = None,
) -> ListResource[Subscriber]:
    filters = service.SubscriberFilters(status=status, plan_id=plan_id, tag=tag, country=country)
    with analytic(warehouse, principal.scope, settings):
        found = service.list_subscribers(warehouse, principal.scope, page, filters=filters)
    return ListResource(data=found.items, has_more=found.has_more, next_cursor=found.next_cursor)


@router.get("/v1/subscribers/{subscriber_id}", response_model=Subscriber, responses=_NOT_FOUND)
def get_subscriber(
    subscriber_id: str, principal: AuthDep, warehouse: WarehouseDep, settings: SettingsDep
) -> Subscriber:
    with analytic(warehouse, principal.scope, settings):
        return service.get_subscriber(warehouse, principal.scope, subscriber_id)


@router.patch(
    "/v1/subscribers/{subscriber_id}",
    response_model=Subscriber,
    responses={**_NOT_FOUND, 422: {"description": "Invalid body"}},
)
def update_subscriber(
    subscriber_id: str, body: SubscriberUpdate, principal: WriteAuth, warehouse: WarehouseDep
) -> Subscriber:
    return service.update_subscriber(warehouse, principal.scope, subscriber_id, body)


@router.get(
    "/v1/subscriptions/{subscription_id}", response_model=Subscription, responses=_NOT_FOUND
)
def get_subscription(
    subscription_id: str, principal: AuthDep, warehouse: WarehouseDep, settings: SettingsDep
) -> Subscription:
    with analytic(warehouse, principal.scope, settings):
        return service.get_subscription(warehouse, principal.scope, subscription_id)
