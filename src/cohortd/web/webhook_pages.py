"""The Webhooks page: destinations (secret shown once), their deliveries, send test,
replay. Every rule is the API's (``webhooks.service``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cohortd.api.deps import SessionDep, SettingsDep
from cohortd.api.paging import PageParams
from cohortd.errors import AppError
from cohortd.web.deps import ViewerDep, page, require_csrf, require_writer
from cohortd.webhooks import schemas, service
from cohortd.webhooks.models import PiiMode

router = APIRouter(prefix="/app", include_in_schema=False)


def _render(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    tenant = viewer.principal
    destinations = service.list_destinations(session, tenant, PageParams(limit=100)).items
    deliveries = {
        d.id: service.list_deliveries(session, tenant, d.id, PageParams(limit=20)).items
        for d in destinations
    }
    values: dict[str, Any] = {"created": None, "problem": None, "notice": None, **context}
    return page(
        request,
        "webhooks.html",
        viewer,
        status_code=status_code,
        section_root="/app/webhooks",
        destinations=[service.destination_out(d) for d in destinations],
        deliveries=deliveries,
        pii_modes=[m.value for m in PiiMode],
        **values,
    )


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    return _render(request, viewer, session)


@router.post("/webhooks", response_class=HTMLResponse)
def create_destination(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    settings: SettingsDep,
    url: Annotated[str, Form(max_length=2048)],
    pii_mode: Annotated[str, Form(max_length=20)] = "full",
    event_types: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_csrf(viewer, csrf_token)
    require_writer(viewer)
    types = [t.strip() for t in event_types.replace(",", " ").split() if t.strip()] or None
    try:
        body = schemas.DestinationCreate(url=url, pii_mode=pii_mode, event_types=types)  # type: ignore[arg-type]
        row, secret = service.create_destination(session, viewer.principal, body, settings=settings)
    except ValidationError as error:
        first = error.errors()[0]
        return _render(
            request, viewer, session, status_code=422, problem=f"{first['loc'][-1]}: {first['msg']}"
        )
    except AppError as error:
        detail = "; ".join(e.msg for e in error.errors) or error.detail
        return _render(request, viewer, session, status_code=error.status, problem=detail)
    # The secret is rendered once, in this response only; it is stored encrypted.
    return _render(
        request, viewer, session, status_code=201, created={"id": row.id, "secret": secret}
    )


@router.post("/webhooks/{destination_id}/test")
def send_test(
    destination_id: str,
    viewer: ViewerDep,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_csrf(viewer, csrf_token)
    require_writer(viewer)
    service.send_test(session, viewer.principal, destination_id)
    return RedirectResponse("/app/webhooks", status_code=303)


@router.post("/webhooks/replay", response_class=HTMLResponse)
def replay(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    settings: SettingsDep,
    destination_id: Annotated[str, Form(max_length=40)],
    start: Annotated[str, Form(max_length=40)],
    end: Annotated[str, Form(max_length=40)],
    force: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_csrf(viewer, csrf_token)
    require_writer(viewer)
    try:
        body = schemas.ReplayCreate.model_validate(
            {
                "destination_id": destination_id,
                "from": datetime.fromisoformat(start),
                "to": datetime.fromisoformat(end),
                "dedupe_strategy": "force_redeliver" if force else "skip_existing",
            }
        )
        made = service.create_replay(session, viewer.principal, body, settings=settings)
    except (ValueError, ValidationError) as error:
        return _render(request, viewer, session, status_code=422, problem=f"replay window: {error}")
    except AppError as error:
        detail = "; ".join(e.msg for e in error.errors) or error.detail
        return _render(request, viewer, session, status_code=error.status, problem=detail)
    return _render(
        request,
        viewer,
        session,
        status_code=202,
        notice=f"Replay {made.id}: {made.event_count} events queued.",
    )
