"""``/v1/imports`` (multipart uploads run as jobs) and ``/v1/exchange_rates``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, File, Form, Request, UploadFile

from cohortd.api.deps import AuthDep, SessionDep, WarehouseDep, WriteAuth
from cohortd.api.paging import ListResource, PageDep
from cohortd.errors import FieldError, ValidationFailed
from cohortd.imports import service
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import OnError
from cohortd.imports.schemas import (
    ExchangeRate,
    ExchangeRateIn,
    ExchangeRatesWritten,
    ImportJobOut,
    KindCountsOut,
)

router = APIRouter(tags=["Imports"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}
UploadField = Annotated[UploadFile | None, File(description="CSV, Parquet or JSON Lines; gzip ok")]


@router.post(
    "/v1/imports",
    status_code=202,
    response_model=ImportJobOut,
    responses={
        **_ERRORS,
        413: {"description": "Upload too large"},
        422: {"description": "No file"},
    },
)
def create_import(
    request: Request,
    principal: WriteAuth,
    session: SessionDep,
    warehouse: WarehouseDep,
    background: BackgroundTasks,
    customers: UploadField = None,
    subscriptions: UploadField = None,
    exchange_rates: UploadField = None,
    on_error: Annotated[OnError, Form(description="abort (default) or skip")] = OnError.abort,
) -> ImportJobOut:
    """Start an import job; it runs after this answer (poll ``GET /v1/imports/{id}``)."""
    uploads = {
        ImportKind.customers: customers,
        ImportKind.subscriptions: subscriptions,
        ImportKind.exchange_rates: exchange_rates,
    }
    given = {kind: upload for kind, upload in uploads.items() if upload is not None}
    if not given:
        raise ValidationFailed(
            "Upload at least one file.",
            errors=[
                FieldError(("body", "customers"), "give customers, subscriptions or exchange_rates")
            ],
        )
    folder = Path(tempfile.mkdtemp(prefix="cohortd-import-"))
    sources = [_save(folder, kind, upload) for kind, upload in given.items()]
    job = service.create_job(
        session, principal, files={s.kind: s.name for s in sources}, on_error=on_error
    )
    background.add_task(
        service.run_job,
        request.app.state.sessions,
        warehouse,
        job.id,
        sources,
        cleanup=folder,
        backfill_days=request.app.state.settings.events_backfill_days,
    )
    return service.job_out(job)


def _save(folder: Path, kind: ImportKind, upload: UploadFile) -> ImportSource:
    """Spool the upload to disk (memory stays bounded); keep only its base name."""
    name = PurePath(upload.filename or kind.value).name or kind.value
    path = folder / kind.value
    with path.open("wb") as target:
        shutil.copyfileobj(upload.file, target, 1 << 20)
    return ImportSource(kind, path, name)


@router.get("/v1/imports", response_model=ListResource[ImportJobOut], responses=_ERRORS)
def list_imports(
    principal: AuthDep, session: SessionDep, page: PageDep
) -> ListResource[ImportJobOut]:
    found = service.list_jobs(session, principal, page)
    return ListResource(
        data=[service.job_out(job) for job in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


@router.get(
    "/v1/imports/{import_id}",
    response_model=ImportJobOut,
    responses={**_ERRORS, 404: {"description": "No such import in this mode"}},
)
def get_import(import_id: str, principal: AuthDep, session: SessionDep) -> ImportJobOut:
    return service.job_out(service.get_job(session, principal, import_id))


@router.post(
    "/v1/exchange_rates",
    status_code=201,
    response_model=ExchangeRatesWritten,
    responses={**_ERRORS, 422: {"description": "An invalid rate (named by its index)"}},
)
def write_exchange_rates(
    principal: WriteAuth,
    warehouse: WarehouseDep,
    rates: Annotated[list[ExchangeRateIn], Body(min_length=1, max_length=10_000)],
) -> ExchangeRatesWritten:
    """Upsert the organization's own rates (units of currency per 1 EUR) on (date, currency)."""
    counts = service.write_rates(warehouse, principal, rates)
    return ExchangeRatesWritten(livemode=principal.livemode, counts=KindCountsOut(**counts))


@router.get("/v1/exchange_rates", response_model=ListResource[ExchangeRate], responses=_ERRORS)
def list_exchange_rates(
    principal: AuthDep, warehouse: WarehouseDep, page: PageDep
) -> ListResource[ExchangeRate]:
    found = service.list_rates(warehouse, principal, page)
    return ListResource(
        data=[service.rate_out(row) for row in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )
