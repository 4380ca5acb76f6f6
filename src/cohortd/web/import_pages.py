"""The Import page: upload customers, subscriptions and rates files as one import job
(the same job as ``POST /v1/imports``), then watch it finish and read its row errors."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cohortd.api.deps import SessionDep, WarehouseDep
from cohortd.api.paging import PageParams
from cohortd.errors import NotFound
from cohortd.imports import service
from cohortd.imports.columns import ImportKind
from cohortd.imports.models import ImportStatus
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import OnError
from cohortd.web.deps import ViewerDep, page, problem_page, require_csrf, require_writer

router = APIRouter(prefix="/app", include_in_schema=False)

Upload = Annotated[UploadFile | None, File()]
_KINDS = (
    (ImportKind.customers, "Customers"),
    (ImportKind.subscriptions, "Subscriptions (MRR history)"),
    (ImportKind.exchange_rates, "Exchange rates"),
)


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    jobs = service.list_jobs(session, viewer.principal, PageParams(limit=20))
    # Newest first: job ids are ULIDs, so they sort by creation time.
    recent = sorted((service.job_out(j) for j in jobs.items), key=lambda j: j.id, reverse=True)
    return page(
        request,
        "import.html",
        viewer,
        section_root="/app/import",
        kinds=_KINDS,
        jobs=recent,
        problem=None,
    )


def _given(upload: UploadFile | None) -> bool:
    # An empty file input still sends a part, with no file name.
    return upload is not None and bool(upload.filename)


def _save(folder: Path, kind: ImportKind, upload: UploadFile) -> ImportSource:
    """Spool the upload to disk (memory stays bounded); keep only its base name."""
    name = PurePath(upload.filename or kind.value).name or kind.value
    path = folder / kind.value
    with path.open("wb") as target:
        shutil.copyfileobj(upload.file, target, 1 << 20)
    return ImportSource(kind, path, name)


@router.post("/import", response_class=HTMLResponse)
def start_import(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    background: BackgroundTasks,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    on_error: Annotated[OnError, Form()] = OnError.abort,
    customers: Upload = None,
    subscriptions: Upload = None,
    exchange_rates: Upload = None,
) -> Response:
    require_csrf(viewer, csrf_token)
    require_writer(viewer)
    uploads = {
        ImportKind.customers: customers,
        ImportKind.subscriptions: subscriptions,
        ImportKind.exchange_rates: exchange_rates,
    }
    given = {
        kind: upload for kind, upload in uploads.items() if upload is not None and _given(upload)
    }
    if not given:
        return page(
            request,
            "import.html",
            viewer,
            status_code=422,
            section_root="/app/import",
            kinds=_KINDS,
            jobs=[],
            problem="Choose at least one file: customers, subscriptions or exchange rates.",
        )
    folder = Path(tempfile.mkdtemp(prefix="cohortd-import-"))
    sources = [_save(folder, kind, upload) for kind, upload in given.items()]
    job = service.create_job(
        session, viewer.principal, files={s.kind: s.name for s in sources}, on_error=on_error
    )
    background.add_task(
        service.run_job, request.app.state.sessions, warehouse, job.id, sources, cleanup=folder
    )
    return RedirectResponse(f"/app/import/{job.id}", status_code=303)


@router.get("/import/{job_id}", response_class=HTMLResponse)
def import_job(request: Request, job_id: str, viewer: ViewerDep, session: SessionDep) -> Response:
    try:
        job = service.job_out(service.get_job(session, viewer.principal, job_id))
    except NotFound as missing:
        return problem_page(request, viewer, missing, back="/app/import")
    return page(
        request,
        "import_job.html",
        viewer,
        section_root="/app/import",
        job=job,
        running=job.status in (ImportStatus.pending, ImportStatus.running),
    )
