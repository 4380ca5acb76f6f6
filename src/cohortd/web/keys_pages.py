"""The Keys page (admin): list, create (secret shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cohortd.api.deps import SessionDep
from cohortd.keys import service
from cohortd.keys.models import Role
from cohortd.keys.schemas import ApiKeyRead
from cohortd.web import repository
from cohortd.web.deps import ViewerDep, page, require_admin, require_csrf

router = APIRouter(prefix="/app", include_in_schema=False)


def _keys(session: SessionDep, viewer: ViewerDep) -> list[ApiKeyRead]:
    rows = repository.keys_newest_first(
        session, org_id=viewer.principal.org_id, livemode=viewer.principal.livemode
    )
    return [ApiKeyRead.of(row) for row in rows]


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    if not viewer.is_admin:
        return page(
            request,
            "keys.html",
            viewer,
            status_code=403,
            section_root="/app/keys",
            keys=None,
            created=None,
        )
    return page(
        request,
        "keys.html",
        viewer,
        section_root="/app/keys",
        keys=_keys(session, viewer),
        created=None,
    )


@router.post("/keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    role: Annotated[Role, Form()],
    name: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_csrf(viewer, csrf_token)
    require_admin(viewer)
    issued = service.issue_key(
        session,
        org_id=viewer.principal.org_id,
        livemode=viewer.principal.livemode,
        role=role,
        name=name.strip() or None,
    )
    # The secret is rendered once, in this response only; it is never stored in clear.
    return page(
        request,
        "keys.html",
        viewer,
        status_code=201,
        section_root="/app/keys",
        keys=_keys(session, viewer),
        created={"id": issued.key.id, "secret": issued.secret, "role": role.value},
    )


@router.post("/keys/{key_id}/revoke")
def revoke_key(
    key_id: str,
    viewer: ViewerDep,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_csrf(viewer, csrf_token)
    require_admin(viewer)
    service.revoke_key(
        session, org_id=viewer.principal.org_id, livemode=viewer.principal.livemode, key_id=key_id
    )
    return RedirectResponse("/app/keys", status_code=303)
