"""``/v1/api_keys``: admin-only key management."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cohortd.api.deps import AdminAuth, SessionDep
from cohortd.api.paging import ListResource, PageDep, paginate_select
from cohortd.keys import repository, service
from cohortd.keys.models import ApiKey
from cohortd.keys.schemas import ApiKeyCreate, ApiKeyRead, ApiKeyRotate, ApiKeyWithSecret

router = APIRouter(prefix="/v1/api_keys", tags=["API keys"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "Not an admin key"},
}


@router.get("", response_model=ListResource[ApiKeyRead], responses=_ERRORS)
def list_keys(principal: AdminAuth, session: SessionDep, page: PageDep) -> ListResource[ApiKeyRead]:
    stmt = repository.keys_query(org_id=principal.org_id, livemode=principal.livemode)
    result = paginate_select(session, stmt, ApiKey.id, page)
    return ListResource(
        data=[ApiKeyRead.of(k) for k in result.items],
        has_more=result.has_more,
        next_cursor=result.next_cursor,
    )


@router.post("", status_code=201, response_model=ApiKeyWithSecret, responses=_ERRORS)
def create_key(body: ApiKeyCreate, principal: AdminAuth, session: SessionDep) -> ApiKeyWithSecret:
    issued = service.issue_key(
        session,
        org_id=principal.org_id,
        livemode=principal.livemode,
        role=body.role,
        name=body.name,
    )
    return ApiKeyWithSecret(**ApiKeyRead.of(issued.key).model_dump(), secret=issued.secret)


@router.get("/{key_id}", response_model=ApiKeyRead, responses={**_ERRORS, 404: {}})
def get_key(key_id: str, principal: AdminAuth, session: SessionDep) -> ApiKeyRead:
    key = service.get_key(
        session, org_id=principal.org_id, livemode=principal.livemode, key_id=key_id
    )
    return ApiKeyRead.of(key)


@router.delete("/{key_id}", response_model=ApiKeyRead, responses={**_ERRORS, 404: {}})
def revoke_key(key_id: str, principal: AdminAuth, session: SessionDep) -> ApiKeyRead:
    key = service.revoke_key(
        session, org_id=principal.org_id, livemode=principal.livemode, key_id=key_id
    )
    return ApiKeyRead.of(key)


@router.post("/{key_id}/rotate", response_model=ApiKeyWithSecret, responses={**_ERRORS, 404: {}})
def rotate_key(
    key_id: str, principal: AdminAuth, session: SessionDep, body: ApiKeyRotate | None = None
) -> ApiKeyWithSecret:
    issued = service.rotate_key(
        session,
        org_id=principal.org_id,
        livemode=principal.livemode,
        key_id=key_id,
        grace_seconds=(body or ApiKeyRotate()).grace_period_seconds,
    )
    return ApiKeyWithSecret(**ApiKeyRead.of(issued.key).model_dump(), secret=issued.secret)
