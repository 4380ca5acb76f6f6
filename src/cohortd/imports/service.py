"""Import rules on the control plane: jobs (create, run, read) and the API's own rates.

A job's run is its own unit of work: it is started after the request that created it
committed (a background task in the API, inline in the CLI), so it opens its own sessions
to move the job through running -> succeeded | failed.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from cohortd.api.paging import Page, PageParams, paginate_select, paginate_table
from cohortd.cohorts.service import Tenant
from cohortd.db import utcnow
from cohortd.engine import derived
from cohortd.errors import FieldError, NotFound, ValidationFailed
from cohortd.events import outbox
from cohortd.events import service as events
from cohortd.ids import new_id
from cohortd.imports import repository
from cohortd.imports.columns import ImportKind
from cohortd.imports.models import ImportJob, ImportStatus
from cohortd.imports.parsing import ImportSource, RawBatch
from cohortd.imports.pipeline import ImportOutcome, OnError, Progress, import_batches, run_import
from cohortd.imports.schemas import ExchangeRate, ExchangeRateIn, ImportJobOut
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import FX_RATES

log = logging.getLogger(__name__)


def create_job(
    session: Session, tenant: Tenant, *, files: dict[ImportKind, str], on_error: OnError
) -> ImportJob:
    """A pending job naming its files (their names only; the bytes stay on disk)."""
    job = ImportJob(
        id=new_id("imp"),
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        status=ImportStatus.pending.value,
        on_error=on_error.value,
        files={kind.value: name for kind, name in files.items()},
        counts={},
        errors=[],
        error_count=0,
        created_at=utcnow(),
    )
    repository.add_job(session, job)
    return job


def run_job(
    sessions: sessionmaker[Session],
    warehouse: Warehouse,
    job_id: str,
    sources: Sequence[ImportSource],
    *,
    progress: Progress | None = None,
    cleanup: Path | None = None,
    preparing: Callable[[], None] | None = None,
    backfill_days: int = 35,
) -> ImportJob:
    """Run a pending job to its end; the uploaded files in ``cleanup`` are removed after.

    The job succeeds once the data is committed; the derived tables of the changed
    customers are then brought up to date (``derived.catch_up``, announced by
    ``preparing``) before this returns. A report asked for meanwhile waits for that.

    The ``subscription.*`` events of the changes (change points up to ``backfill_days``
    old) are written with the data (``events.outbox``) and relayed to the event log
    after the commit; ``import.completed`` / ``import.failed`` is recorded in the
    transaction that finishes the job."""
    try:
        with sessions.begin() as session:
            job = _job(session, job_id)
            job.status = ImportStatus.running.value
            scope = Scope(job.org_id, job.livemode)
            on_error = OnError(job.on_error)
        now = utcnow()
        recorder = outbox.SubscriptionChanges(
            warehouse, scope, source=job_id, backfill_days=backfill_days, now=now
        )
        try:
            outcome = run_import(
                warehouse, scope, sources, on_error=on_error, progress=progress, recorder=recorder
            )
        except Exception as error:
            # Only the error's type is logged: database messages can quote cell values (PII).
            log.error("import job %s crashed: %s", job_id, type(error).__name__)
            outcome = ImportOutcome(False, {}, [], 0)
        with sessions.begin() as session:
            job = _job(session, job_id)
            _finish(job, outcome)
            _record_finish(session, job)
        if outcome.succeeded and recorder.recorded:
            _relay(sessions, warehouse, scope)
        if outcome.succeeded:
            prepare_reports(warehouse, scope, preparing)
        return job
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def _record_finish(session: Session, job: ImportJob) -> None:
    """``import.completed`` / ``import.failed`` with the job, in the job's own transaction."""
    kind = "import.completed" if job.status == ImportStatus.succeeded.value else "import.failed"
    events.record(
        session,
        org_id=job.org_id,
        livemode=job.livemode,
        draft=events.EventDraft(type=kind, data=job_out(job).model_dump(mode="json")),
    )


def _relay(sessions: sessionmaker[Session], warehouse: Warehouse, scope: Scope) -> None:
    """Move the import's events into the event log now. A failure here loses nothing: the
    rows wait in the outbox for the next relay (every start and delivery-loop pass)."""
    try:
        outbox.relay(sessions, warehouse, scope)
    except Exception as error:
        log.error("relaying the import's events failed (retried later): %s", type(error).__name__)


def prepare_reports(
    warehouse: Warehouse, scope: Scope, preparing: Callable[[], None] | None = None
) -> None:
    """Refresh the scope's derived tables after an import. A failure here loses nothing:
    the changes stay recorded and the next report of the scope refreshes them."""
    try:
        if not derived.stale(warehouse, scope):
            return
        if preparing is not None:
            preparing()
        derived.catch_up(warehouse, scope)
    except Exception as error:
        log.error(
            "refreshing derived tables failed (the next report retries): %s", type(error).__name__
        )


def _job(session: Session, job_id: str) -> ImportJob:
    job = repository.get_job_by_id(session, job_id)
    if job is None:
        raise NotFound(f"No import '{job_id}'.")
    return job


def _finish(job: ImportJob, outcome: ImportOutcome) -> None:
    succeeded = outcome.succeeded
    job.status = (ImportStatus.succeeded if succeeded else ImportStatus.failed).value
    job.counts = {kind.value: counts.as_json() for kind, counts in outcome.counts.items()}
    job.errors = [problem.as_json() for problem in outcome.problems]
    job.error_count = outcome.problem_count
    if not succeeded and not outcome.problems:
        job.errors = [
            {
                "file": None,
                "kind": None,
                "row": None,
                "column": None,
                "value": None,
                "reason": "the import stopped on an internal error; nothing was written",
            }
        ]
    job.completed_at = utcnow()


def get_job(session: Session, tenant: Tenant, job_id: str) -> ImportJob:
    job = repository.get_job(session, org_id=tenant.org_id, livemode=tenant.livemode, job_id=job_id)
    if job is None:
        raise NotFound(f"No import '{job_id}' in this mode.")
    return job


def list_jobs(session: Session, tenant: Tenant, page: PageParams) -> Page[ImportJob]:
    stmt = repository.jobs_query(org_id=tenant.org_id, livemode=tenant.livemode)
    return paginate_select(session, stmt, ImportJob.id, page)


def job_out(job: ImportJob) -> ImportJobOut:
    return ImportJobOut.model_validate(job)


# -- the organization's own exchange rates ------------------------------------------------
def write_rates(
    warehouse: Warehouse, tenant: Tenant, rates: list[ExchangeRateIn]
) -> dict[str, int]:
    """Upsert rates on (date, currency); any bad item -> 422 naming ``body[i].field``."""
    columns = {
        "date": pa.array([r.date.isoformat() for r in rates], pa.string()),
        "currency": pa.array([r.currency for r in rates], pa.string()),
        "rate": pa.array([str(r.rate) for r in rates], pa.string()),
    }
    batch = RawBatch(columns=columns, rows=pa.array(range(len(rates)), pa.int64()))
    scope = Scope(tenant.org_id, tenant.livemode)
    outcome = import_batches(warehouse, scope, ImportKind.exchange_rates, [batch], file="body")
    if not outcome.succeeded:
        errors = [
            FieldError(("body", p.row if p.row is not None else 0, p.column or ""), p.reason)
            for p in outcome.problems
        ]
        raise ValidationFailed("Some exchange rates are invalid.", errors=errors)
    return outcome.counts[ImportKind.exchange_rates].as_json()


def list_rates(warehouse: Warehouse, tenant: Tenant, page: PageParams) -> Page[dict[str, Any]]:
    rates = scoped(warehouse, FX_RATES, Scope(tenant.org_id, tenant.livemode))
    keyed = rates.select(
        id=rates.date.cast("string") + ibis.literal(":") + rates.currency,
        livemode=rates.livemode,
        date=rates.date,
        currency=rates.currency,
        rate=rates.rate,
    )
    return paginate_table(warehouse, keyed, page, key="id")


def rate_out(row: dict[str, Any]) -> ExchangeRate:
    return ExchangeRate(
        id=row["id"],
        livemode=row["livemode"],
        date=row["date"],
        currency=row["currency"],
        rate=_plain(row["rate"]),
    )


def _plain(rate: Any) -> str:
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
